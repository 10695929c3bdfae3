"""Importer des factures: the upload form and the history, the report of the dry run, then the
publication in a background task whose progress the page follows.

- `GET /<commune>/gestion/imports`: the form (CSV file, optional zip of PDFs) and the history.
- `POST /<commune>/gestion/imports`: keeps the files as a job, runs the dry run, shows its page.
- `GET /<commune>/gestion/imports/<id>`: the report before anything is written, or the
  publication's progress (an htmx fragment polled every second while it runs; the state is in
  the database, so a reload or another agent's browser sees the same).
- `POST .../<id>/publier` and `POST .../<id>/abandonner`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.response import Redirect, Template

from core.backoffice import imports
from core.backoffice.imports import (
    ARCHIVE_MAX_BYTES,
    CSV_MAX_BYTES,
    MAX_PER_PAGE,
    UPLOAD_MAX_BYTES,
    MiB,
)
from core.backoffice.roles import can
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, backoffice_root, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.i18n import t
from core.mail.mailer import Mailer
from core.settings import Settings
from core.web.dependencies import background_tasks, client_address
from core.web.forms import Problems

LIST_TEMPLATE = "backoffice/imports.html"
JOB_TEMPLATE = "backoffice/import_job.html"
STATUS_BLOCK = "import_status"
TOO_LARGE = "taille"
"""`?erreur=taille`: the upload went over `UPLOAD_MAX_BYTES` (answered before any handler)."""


def limits_mb() -> dict[str, int]:
    """The size limits in MB, as the messages and the form's hints give them."""
    return {
        "max": UPLOAD_MAX_BYTES // MiB,
        "csv": CSV_MAX_BYTES // MiB,
        "zip": ARCHIVE_MAX_BYTES // MiB,
    }


async def read_upload(value: object, limit: int) -> bytes | None:
    """The content of an uploaded file, None when no file was chosen; raises ValueError past
    `limit` bytes (read no further than that)."""
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    data = await value.read(limit + 1)
    if len(data) > limit:
        raise ValueError(value.filename)
    return data


async def uploaded_files(form: Any) -> tuple[str, bytes, bytes | None]:
    """The CSV's name and content, and the archive's content (fields `csv` and `pdfs`);
    raises `Problems` naming the field."""
    csv_field, pdf_field = "csv", "pdfs"
    problems = Problems()
    upload = form.get(csv_field)
    csv_data = archive = None
    try:
        csv_data = await read_upload(upload, CSV_MAX_BYTES)
    except ValueError:
        problems.add(csv_field, t("backoffice.imports.csv_too_large", max=CSV_MAX_BYTES // MiB))
    else:
        if csv_data is None:
            problems.add(csv_field, t("backoffice.imports.csv_missing"))
        elif not csv_data.strip():
            problems.add(csv_field, t("backoffice.imports.csv_empty"))
    try:
        archive = await read_upload(form.get(pdf_field), ARCHIVE_MAX_BYTES)
    except ValueError:
        problems.add(pdf_field, t("backoffice.imports.zip_too_large", max=ARCHIVE_MAX_BYTES // MiB))
    if problems.errors or csv_data is None:
        raise problems
    return upload.filename, csv_data, archive


def start_in_background(request: Request, work: Coroutine[Any, Any, Any]) -> None:
    """Run `work` as one of the app's background tasks (cancelled when the server stops)."""
    tasks = background_tasks(request)
    tasks[:] = [task for task in tasks if not task.done()]
    tasks.append(asyncio.create_task(work))


def _too_large(request: Request, exc: RequestEntityTooLarge) -> Response[Any]:
    # Litestar refuses the body before the handler (and the CSRF check) reads it: back to the
    # form, which says what the limits are.
    slug = request.path_params.get("slug", "")
    return Redirect(path=f"/{slug}/gestion/imports?erreur={TOO_LARGE}", status_code=303)


class ImportController(BackofficeController):
    path = "/{slug:str}/gestion/imports"
    exception_handlers = {RequestEntityTooLarge: _too_large}  # noqa: RUF012 - Litestar's type

    @get("/", name="backoffice_imports", opt=permission("invoices.import"))
    async def show_imports(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, page: int = 1
    ) -> Template:
        errors: dict[str, list[str]] = {}
        if request.query_params.get("erreur") == TOO_LARGE:
            errors["form"] = [t("backoffice.imports.too_large", **limits_mb())]
        return await self._list_page(request, commune, agent, page, errors)

    @post(
        "/",
        opt=permission("invoices.import"),
        request_max_body_size=UPLOAD_MAX_BYTES,
        status_code=303,
    )
    async def upload(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, settings: Settings
    ) -> Response[Any]:
        form = await request.form()
        try:
            file_name, csv_data, archive = await uploaded_files(form)
        except Problems as problems:
            return await self._list_page(request, commune, agent, 1, problems.errors, 422)
        data_dir = Path(settings.data_dir)
        actor = agent.agent.actor(client_address(request, settings))
        job_id = await imports.create_import_job(
            commune.id, file_name, "web", csv_data, data_dir, actor, pdf_archive=archive
        )
        await imports.check_import_job(commune.id, job_id, csv_data, archive, data_dir)
        return Redirect(path=_job_url(commune, job_id), status_code=303)

    @get("/{job_id:int}", name="backoffice_import_job", opt=permission("invoices.import"))
    async def show_job(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        job_id: int,
        page: int = 1,
    ) -> Template:
        job = await imports.get_import_job(commune.id, job_id)
        if job is None:
            raise NotFoundException()
        problems = job.report.get("errors", [])
        pages = max(1, -(-len(problems) // MAX_PER_PAGE))
        page = min(max(1, page), pages)
        shown = problems[(page - 1) * MAX_PER_PAGE : page * MAX_PER_PAGE]
        return backoffice_page(
            request,
            commune,
            agent,
            JOB_TEMPLATE,
            block=STATUS_BLOCK,
            job=job,
            problems=shown,
            problems_page={"page": page, "pages": pages},
            job_url=_job_url(commune, job_id),
            imports_url=backoffice_root(commune) + "imports",
        )

    @post("/{job_id:int}/publier", opt=permission("invoices.import"), status_code=303)
    async def publish(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        mailer: Mailer,
        job_id: int,
    ) -> Redirect:
        if await imports.get_import_job(commune.id, job_id) is None:
            raise NotFoundException()
        if not await imports.start_publishing(commune.id, job_id):
            return Redirect(path=_job_url(commune, job_id), status_code=303)
        work = imports.publish_import_job(
            commune.id,
            job_id,
            agent.agent.actor(client_address(request, settings)),
            data_dir=Path(settings.data_dir),
            env=mailer.env,  # the alerts are rendered as every e-mail is
            base_url=mailer.base_url,
        )
        start_in_background(request, work)
        return Redirect(path=_job_url(commune, job_id) + "?info=import_publishing", status_code=303)

    @post("/{job_id:int}/abandonner", opt=permission("invoices.import"), status_code=303)
    async def discard(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        job_id: int,
    ) -> Redirect:
        if await imports.get_import_job(commune.id, job_id) is None:
            raise NotFoundException()
        actor = agent.agent.actor(client_address(request, settings))
        if await imports.discard_import_job(commune.id, job_id, actor):
            return Redirect(
                path=_job_url(commune, job_id) + "?info=import_discarded", status_code=303
            )
        return Redirect(path=_job_url(commune, job_id), status_code=303)

    async def _list_page(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        page: int,
        errors: dict[str, list[str]],
        status_code: int = 200,
    ) -> Template:
        history = await imports.page_import_jobs(commune.id, page)
        return backoffice_page(
            request,
            commune,
            agent,
            LIST_TEMPLATE,
            status_code=status_code,
            errors=errors,
            history=history,
            limits=limits_mb(),
            imports_url=backoffice_root(commune) + "imports",
            can_manage_keys=can(agent.agent, "api_keys.manage"),
        )


def _job_url(commune: CommuneContext, job_id: int) -> str:
    return f"{backoffice_root(commune)}imports/{job_id}"
