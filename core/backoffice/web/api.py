"""The import API: the commune's billing software sends its CSV export itself.

`POST /<commune>/api/imports` with `Authorization: Bearer <key>` (an active key of that
commune), the CSV as the body (`Content-Type: text/csv`) or a multipart form (`file`, and
optionally `pdfs`, a zip of the PDFs); `?dry_run=1` checks without writing. The answer is the
importer's report as JSON (docs/api.md). No CSRF (no browser posts it) and no cookie is read:
the key is the only credential. Rate-limited per client address (counted before the key is
checked, so keys cannot be guessed quickly) and per key. Each call is an import job (source
"api") and its publication is journalled under the key's name.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.datastructures import UploadFile
from litestar.exceptions import ClientException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from core.backoffice import imports
from core.backoffice.api_keys import ApiKeyInfo, verify_api_key
from core.backoffice.imports import (
    ARCHIVE_MAX_BYTES,
    CSV_MAX_BYTES,
    UPLOAD_MAX_BYTES,
    report_dict,
)
from core.backoffice.journal import Actor
from core.backoffice.web.imports import limits_mb, read_upload
from core.communes.context import CommuneContext
from core.i18n import t
from core.invoices.importer import PdfArchiveError, plan_import
from core.mail.mailer import Mailer
from core.security import throttle
from core.settings import Settings
from core.web.dependencies import client_address

PER_KEY = throttle.Limit("api_import_key", max_hits=60, window_seconds=3600)
PER_ADDRESS = throttle.Limit("api_import_address", max_hits=120, window_seconds=3600)
DRY_RUN_VALUES = frozenset({"1", "true", "oui", "yes"})
DEFAULT_NAME = "api.csv"
"""The job's file name when the caller gives none (`?nom=` or the multipart file's name)."""


class ApiError(Exception):
    """An answer other than the report: its status and French message."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def json_answer(status_code: int, content: dict[str, Any]) -> Response[dict[str, Any]]:
    headers = {"Cache-Control": "no-store"}
    if status_code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="portail"'
    return Response(content=content, status_code=status_code, headers=headers)


def _error(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, ApiError):
        return json_answer(exc.status_code, {"ok": False, "error": exc.message})
    return json_answer(413, {"ok": False, "error": t("backoffice.api.too_large", **limits_mb())})


def bearer_key(request: Request) -> str:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


async def authenticate(request: Request, commune: CommuneContext, address: str) -> ApiKeyInfo:
    """The caller's key, within its limits; raises `ApiError` (429, 401)."""
    if not await throttle.hit(address, PER_ADDRESS):
        raise ApiError(429, t("backoffice.api.rate_limited"))
    key = await verify_api_key(commune.id, bearer_key(request))
    if key is None:
        raise ApiError(401, t("backoffice.api.unauthorized"))
    if not await throttle.hit(str(key.id), PER_KEY):
        raise ApiError(429, t("backoffice.api.rate_limited"))
    return key


async def received_files(request: Request) -> tuple[str, bytes, bytes | None]:
    """The file name, the CSV and the archive of PDFs sent; raises `ApiError` (400, 413)."""
    content_type, _ = request.content_type
    archive = None
    try:
        if content_type == "multipart/form-data":
            form = await request.form()
            upload = form.get("file")
            csv_data = await read_upload(upload, CSV_MAX_BYTES)
            archive = await read_upload(form.get("pdfs"), ARCHIVE_MAX_BYTES)
            name = upload.filename if isinstance(upload, UploadFile) else ""
        else:
            csv_data = await request.body()
            if len(csv_data) > CSV_MAX_BYTES:
                raise ValueError(CSV_MAX_BYTES)
            name = request.query_params.get("nom", "")
    except ValueError:
        raise ApiError(413, t("backoffice.api.too_large", **limits_mb())) from None
    except ClientException as exc:  # a broken multipart body
        raise ApiError(400, t("backoffice.api.csv_missing")) from exc
    if csv_data is None or not csv_data.strip():
        raise ApiError(400, t("backoffice.api.csv_missing"))
    return name or DEFAULT_NAME, csv_data, archive


class ImportApiController(Controller):
    path = "/{slug:str}/api"
    exception_handlers = {ApiError: _error, RequestEntityTooLarge: _error}  # noqa: RUF012

    @post(
        "/imports",
        name="api_imports",
        exclude_from_csrf=True,
        request_max_body_size=UPLOAD_MAX_BYTES,
    )
    async def import_invoices(
        self, request: Request, commune: CommuneContext, settings: Settings, mailer: Mailer
    ) -> Response[dict[str, Any]]:
        address = client_address(request, settings)
        key = await authenticate(request, commune, address)
        name, csv_data, archive = await received_files(request)
        actor = Actor.api(key.label, address)
        dry_run = request.query_params.get("dry_run", "").lower() in DRY_RUN_VALUES
        data_dir = Path(settings.data_dir)
        job_id = await imports.create_import_job(
            commune.id, name, "api", csv_data, data_dir, actor, pdf_archive=archive
        )
        try:
            pdfs = await asyncio.to_thread(imports.load_pdfs, archive)
        except PdfArchiveError as exc:
            await imports.update_import_job(
                job_id, status="failed", report=imports.archive_report(exc), error=exc.message
            )
            raise ApiError(422, t("backoffice.api.archive_refused", message=exc.message)) from exc
        if dry_run:
            report = await plan_import(commune.id, csv_data, pdfs=pdfs, data_dir=data_dir)
            stored = report_dict(report)
            # A dry run publishes nothing: the job ends "discarded", its report kept.
            await imports.update_import_job(
                job_id, status="discarded", counts=imports.counts_of(report), report=stored
            )
        else:
            try:
                async with imports.publishing(job_id):
                    await imports.update_import_job(job_id, status="publishing", progress=30)
                    report, stored = await imports.publish_files(
                        commune.id,
                        job_id,
                        csv_data,
                        pdfs,
                        actor,
                        data_dir=data_dir,
                        env=mailer.env,
                        base_url=mailer.base_url,
                    )
            except Exception as exc:
                crashed = t("backoffice.api.crashed")
                await imports.update_import_job(job_id, status="failed", error=crashed)
                raise ApiError(500, crashed) from exc
        return json_answer(200 if report.ok else 422, {**stored, "job": job_id})
