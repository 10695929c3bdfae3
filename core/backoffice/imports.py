"""Import jobs: an uploaded CSV (and optional ZIP of PDFs) waiting to be checked and published.

The row keeps the state, counts and the importer's report; the files are kept in the data
directory, `<PORTAIL_DATA_DIR>/imports/<id>/`, under fixed names (the uploaded name is only
recorded, never used as a path).

A job goes: `create_import_job` (planned) -> `check_import_job` (the importer's dry run, its
report stored; a refused file or archive ends "failed") -> `start_publishing` (publishing) ->
`publish_import_job` (published or failed), or `discard_import_job` (discarded). A job left
"publishing" by a server that stopped is failed by `fail_interrupted_imports` at start-up: the
import itself is one transaction, so all or nothing of it was written. While a process publishes
a job it holds the job's process lock (`core.leader.process_lock`), released if it dies, so a
server starting while another publishes leaves that job alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from core.backoffice import journal
from core.backoffice.journal import Actor
from core.backoffice.tables import IMPORT_SOURCES, IMPORT_STATES, ImportJob
from core.clock import now
from core.db import current_engine, transaction
from core.i18n import t
from core.invoices.importer import (
    ImportReport,
    PdfArchiveError,
    PdfFiles,
    ZipLimits,
    pdfs_from_zip,
    plan_import,
    run_import,
)
from core.leader import Leadership, process_lock

logger = logging.getLogger(__name__)

CSV_NAME = "factures.csv"
PDF_ARCHIVE_NAME = "pdf.zip"
FINAL_STATES = ("published", "failed", "discarded")
FILE_NAME_MAX_LENGTH = 255
MAX_STORED_ERRORS = 1000
"""A report keeps at most this many errors (and warnings); `error_count` says how many."""
MAX_PER_PAGE = 50
PUBLISHING_LOCKS = 0x696D706F7274 << 16
"""Advisory lock keys of the jobs being published: this plus the job id (PostgreSQL)."""
_publishing: dict[int, Leadership] = {}
"""The publishing locks this process holds, from `start_publishing` to the publication's end."""

MiB = 1024 * 1024
CSV_MAX_BYTES = 50 * MiB
"""An uploaded CSV file (about 250,000 invoices)."""
ARCHIVE_MAX_BYTES = ZipLimits().max_archive_bytes
"""An uploaded archive of PDFs, as the importer bounds it."""
UPLOAD_MAX_BYTES = CSV_MAX_BYTES + ARCHIVE_MAX_BYTES + MiB
"""A whole upload request: both files and the form's other fields."""


@dataclass(frozen=True)
class ImportJobInfo:
    id: int
    commune_id: int
    agent_id: int | None
    file_name: str
    source: str
    status: str
    counts: dict[str, int]
    report: dict[str, Any]
    progress: int
    has_pdf_archive: bool
    created_at: dt.datetime
    finished_at: dt.datetime | None
    error: str
    agent_label: str = ""

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def publishable(self) -> bool:
        """Checked without a refusal, and neither published nor discarded yet."""
        return self.status == "planned" and bool(self.report) and bool(self.report.get("ok"))


@dataclass(frozen=True)
class ImportJobPage:
    jobs: list[ImportJobInfo]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def import_job_dir(data_dir: Path, job_id: int) -> Path:
    """Where a job's files are kept."""
    return data_dir / "imports" / str(int(job_id))


async def create_import_job(
    commune_id: int,
    file_name: str,
    source: str,
    csv_data: bytes,
    data_dir: Path,
    actor: Actor,
    *,
    pdf_archive: bytes | None = None,
) -> int:
    """Record a planned import and keep its files; returns the job's id."""
    if source not in IMPORT_SOURCES:
        raise ValueError(f"import source must be one of {IMPORT_SOURCES}: {source!r}")
    name = file_name.replace("\\", "/").rsplit("/", 1)[-1][:FILE_NAME_MAX_LENGTH]
    async with transaction():
        rows = await ImportJob.insert(
            ImportJob(
                commune=commune_id,
                agent=actor.agent_id,
                file_name=name,
                source=source,
                status="planned",
                has_pdf_archive=pdf_archive is not None,
                created_at=now(),
            )
        ).returning(ImportJob.id)
        job_id = int(rows[0]["id"])
        # Written inside the transaction: a failed write leaves no job without its files.
        await asyncio.to_thread(
            _write_files, import_job_dir(data_dir, job_id), csv_data, pdf_archive
        )
        await journal.record(
            "invoices.import.upload",
            actor,
            commune_id=commune_id,
            target=name,
            after={"job": job_id, "source": source},
        )
    return job_id


def _write_files(directory: Path, csv_data: bytes, pdf_archive: bytes | None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CSV_NAME).write_bytes(csv_data)
    if pdf_archive is not None:
        (directory / PDF_ARCHIVE_NAME).write_bytes(pdf_archive)
    else:
        # A job id used again (a database restored from a backup) must not find an old archive.
        (directory / PDF_ARCHIVE_NAME).unlink(missing_ok=True)


async def update_import_job(
    job_id: int,
    *,
    status: str | None = None,
    progress: int | None = None,
    counts: dict[str, int] | None = None,
    report: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Record a job's progress; a final status (published, failed, discarded) sets
    `finished_at`. The caller journals what an agent decided (publish, discard)."""
    values: dict[Any, Any] = {}
    if status is not None:
        if status not in IMPORT_STATES:
            raise ValueError(f"import status must be one of {IMPORT_STATES}: {status!r}")
        values[ImportJob.status] = status
        if status in FINAL_STATES:
            values[ImportJob.finished_at] = now()
    if progress is not None:
        values[ImportJob.progress] = min(100, max(0, progress))
    if counts is not None:
        values[ImportJob.counts] = json.dumps(counts, sort_keys=True)
    if report is not None:
        values[ImportJob.report] = json.dumps(report, sort_keys=True, ensure_ascii=False)
    if error is not None:
        values[ImportJob.error] = error
    if values:
        async with transaction():
            await ImportJob.update(values).where(ImportJob.id == job_id)


async def get_import_job(commune_id: int, job_id: int) -> ImportJobInfo | None:
    """A job of `commune_id` (None for another commune's)."""
    row = (
        await ImportJob.select()
        .where((ImportJob.id == job_id) & (ImportJob.commune == commune_id))
        .first()
    )
    return _info(row) if row is not None else None


async def list_import_jobs(commune_id: int, limit: int = 50) -> list[ImportJobInfo]:
    """The commune's latest jobs, newest first."""
    rows = (
        await ImportJob.select()
        .where(ImportJob.commune == commune_id)
        .order_by(ImportJob.created_at, ascending=False)
        .order_by(ImportJob.id, ascending=False)
        .limit(limit)
    )
    return [_info(row) for row in rows]


async def page_import_jobs(
    commune_id: int, page: int = 1, per_page: int = MAX_PER_PAGE
) -> ImportJobPage:
    """One page of the commune's jobs, newest first, with who uploaded each."""
    page = max(1, page)
    per_page = min(max(1, per_page), MAX_PER_PAGE)
    where = ImportJob.commune == commune_id
    total = await ImportJob.count().where(where)
    rows = (
        await ImportJob.select(
            *ImportJob.all_columns(),
            ImportJob.agent.display_name.as_alias("agent_name"),
            ImportJob.agent.email.as_alias("agent_email"),
        )
        .where(where)
        .order_by(ImportJob.created_at, ascending=False)
        .order_by(ImportJob.id, ascending=False)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return ImportJobPage([_info(row) for row in rows], total, page, per_page)


def read_job_files(data_dir: Path, job_id: int, with_archive: bool) -> tuple[bytes, bytes | None]:
    """The job's CSV and, `with_archive`, its archive of PDFs (blocking: call it in a thread)."""
    directory = import_job_dir(data_dir, job_id)
    archive = (directory / PDF_ARCHIVE_NAME).read_bytes() if with_archive else None
    return (directory / CSV_NAME).read_bytes(), archive


def load_pdfs(archive: bytes | None, limits: ZipLimits | None = None) -> PdfFiles | None:
    """The PDFs of an uploaded archive (blocking); raises `PdfArchiveError` for a refused one."""
    if archive is None:
        return None
    return pdfs_from_zip(archive, limits or ZipLimits())


def report_dict(report: ImportReport) -> dict[str, Any]:
    """The importer's report as stored and answered: `as_dict()`, the errors and warnings
    capped at `MAX_STORED_ERRORS` (`truncated` then true), `error_count` the real number."""
    data = report.as_dict()
    data["error_count"] = len(data["errors"])
    data["truncated"] = (
        len(data["errors"]) > MAX_STORED_ERRORS or len(data["warnings"]) > MAX_STORED_ERRORS
    )
    data["errors"] = data["errors"][:MAX_STORED_ERRORS]
    data["warnings"] = data["warnings"][:MAX_STORED_ERRORS]
    return data


def archive_report(error: PdfArchiveError) -> dict[str, Any]:
    """The stored report of a refused archive: nothing read from the CSV, the reason."""
    return {"ok": False, "archive_error": error.message, "errors": [], "warnings": []}


def counts_of(report: ImportReport) -> dict[str, int]:
    return {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "refused": len(report.errors),
    }


async def check_import_job(
    commune_id: int, job_id: int, csv_data: bytes, archive: bytes | None, data_dir: Path
) -> dict[str, Any]:
    """The dry run of a planned job, stored on it; a refused file or archive fails the job.
    Returns the stored report."""
    try:
        pdfs = await asyncio.to_thread(load_pdfs, archive)
    except PdfArchiveError as exc:
        stored = archive_report(exc)
        await update_import_job(job_id, status="failed", report=stored, error=exc.message)
        return stored
    report = await plan_import(commune_id, csv_data, pdfs=pdfs, data_dir=data_dir)
    stored = report_dict(report)
    if report.errors:
        refused = t("backoffice.imports.refused", count=len(report.errors))
        await update_import_job(
            job_id, status="failed", counts=counts_of(report), report=stored, error=refused
        )
    else:
        await update_import_job(job_id, counts=counts_of(report), report=stored, progress=0)
    return stored


async def start_publishing(commune_id: int, job_id: int) -> bool:
    """Move a publishable job of `commune_id` to "publishing"; False when it is not (another
    request got there first, or it was refused, published or discarded). The job's publishing
    lock is taken first, and kept until `publish_import_job` ends."""
    job = await get_import_job(commune_id, job_id)
    if job is None or not job.publishable:
        return False
    lock = _publishing_lock(job_id)
    await lock.try_acquire()
    async with transaction():
        rows = (
            await ImportJob.update({ImportJob.status: "publishing", ImportJob.progress: 5})
            .where(
                (ImportJob.id == job_id)
                & (ImportJob.commune == commune_id)
                & (ImportJob.status == "planned")
            )
            .returning(ImportJob.id)
        )
    if not rows:
        await lock.release()
        return False
    _publishing[job_id] = lock
    return True


async def publish_import_job(
    commune_id: int,
    job_id: int,
    actor: Actor,
    *,
    data_dir: Path,
    env: jinja2.Environment,
    base_url: str,
) -> dict[str, Any]:
    """Publish a job moved to "publishing": the import on its stored files, its progress at
    each phase, then "published" (journalled with its counts) or "failed". Returns the stored
    report. Meant for a background task; a cancelled one leaves "publishing" behind, which
    `fail_interrupted_imports` settles at the next start."""
    try:
        job = await get_import_job(commune_id, job_id)
        if job is None:
            return {}
        csv_data, archive = await asyncio.to_thread(
            read_job_files, data_dir, job_id, job.has_pdf_archive
        )
        await update_import_job(job_id, progress=15)
        pdfs = await asyncio.to_thread(load_pdfs, archive)
        await update_import_job(job_id, progress=30)
        _, stored = await publish_files(
            commune_id, job_id, csv_data, pdfs, actor, data_dir=data_dir, env=env, base_url=base_url
        )
    except PdfArchiveError as exc:
        stored = archive_report(exc)
        await update_import_job(job_id, status="failed", report=stored, error=exc.message)
        return stored
    except Exception:
        logger.exception("import job %s failed", job_id)
        # Logged above; the job's state tells the agent, and the background task ends here.
        await update_import_job(job_id, status="failed", error=t("backoffice.imports.crashed"))
        return {}
    finally:
        lock = _publishing.pop(job_id, None)
        if lock is not None:
            await lock.release()
    return stored


def _publishing_lock(job_id: int) -> Leadership:
    """Held by the process publishing the job, for as long as it does."""
    return process_lock(
        current_engine(), f"import-{job_id}", PUBLISHING_LOCKS + job_id, temporary=True
    )


@contextlib.asynccontextmanager
async def publishing(job_id: int) -> AsyncIterator[None]:
    """Hold the job's publishing lock while publishing it in this request (the API's way)."""
    lock = _publishing_lock(job_id)
    await lock.try_acquire()
    try:
        yield
    finally:
        await lock.release()


async def publish_files(
    commune_id: int,
    job_id: int,
    csv_data: bytes,
    pdfs: PdfFiles | None,
    actor: Actor,
    *,
    data_dir: Path,
    env: jinja2.Environment,
    base_url: str,
) -> tuple[ImportReport, dict[str, Any]]:
    """The import and the job's outcome with its journal entry, in ONE transaction (the
    importer's joins it): a stop halfway leaves nothing written and the job "publishing",
    which `fail_interrupted_imports` then rightly calls interrupted with nothing recorded."""
    async with transaction():
        report = await run_import(
            commune_id, csv_data, pdfs=pdfs, data_dir=data_dir, env=env, base_url=base_url
        )
        return report, await finish_import_job(commune_id, job_id, report, actor)


async def finish_import_job(
    commune_id: int, job_id: int, report: ImportReport, actor: Actor
) -> dict[str, Any]:
    """Store a publication's outcome: "published" and its journal entry in one transaction
    (the caller's, when it has one), or "failed" when the importer refused the file after all
    (the database changed since the dry run)."""
    stored = report_dict(report)
    counts = counts_of(report)
    if report.errors:
        refused = t("backoffice.imports.refused", count=len(report.errors))
        await update_import_job(
            job_id, status="failed", counts=counts, report=stored, error=refused
        )
        return stored
    async with transaction():
        await ImportJob.update(
            {
                ImportJob.status: "published",
                ImportJob.progress: 100,
                ImportJob.counts: json.dumps(counts, sort_keys=True),
                ImportJob.report: json.dumps(stored, sort_keys=True, ensure_ascii=False),
                ImportJob.finished_at: now(),
            }
        ).where(ImportJob.id == job_id)
        await journal.record(
            "invoices.import.publish",
            actor,
            commune_id=commune_id,
            target=await _file_name(job_id),
            after={"job": job_id, **counts, "alerts": report.alerts_queued},
        )
    return stored


async def discard_import_job(commune_id: int, job_id: int, actor: Actor) -> bool:
    """Abandon a planned job of `commune_id` (journalled); False when it is not planned."""
    async with transaction():
        rows = (
            await ImportJob.update({ImportJob.status: "discarded", ImportJob.finished_at: now()})
            .where(
                (ImportJob.id == job_id)
                & (ImportJob.commune == commune_id)
                & (ImportJob.status == "planned")
            )
            .returning(ImportJob.file_name)
        )
        if rows:
            await journal.record(
                "invoices.import.discard",
                actor,
                commune_id=commune_id,
                target=rows[0]["file_name"],
                after={"job": job_id},
            )
    return bool(rows)


async def fail_interrupted_imports() -> int:
    """Fail the jobs a stopped server left "publishing" (at start-up); how many there were.
    A job whose publishing lock another process holds is still being published: left alone."""
    rows = await ImportJob.select(ImportJob.id).where(ImportJob.status == "publishing")
    failed = 0
    for row in rows:
        lock = _publishing_lock(int(row["id"]))
        if not await lock.try_acquire():
            continue
        try:
            failed += await _fail_interrupted(int(row["id"]))
        finally:
            await lock.release()
    return failed


async def _fail_interrupted(job_id: int) -> int:
    async with transaction():
        rows = (
            await ImportJob.update(
                {
                    ImportJob.status: "failed",
                    ImportJob.finished_at: now(),
                    ImportJob.error: t("backoffice.imports.interrupted"),
                }
            )
            .where((ImportJob.id == job_id) & (ImportJob.status == "publishing"))
            .returning(ImportJob.id)
        )
    return len(rows)


async def _file_name(job_id: int) -> str:
    row = await ImportJob.select(ImportJob.file_name).where(ImportJob.id == job_id).first()
    return str(row["file_name"]) if row else ""


def _agent_label(row: dict[str, Any]) -> str:
    return str(row.get("agent_name") or row.get("agent_email") or "")


def _info(row: dict[str, Any]) -> ImportJobInfo:
    return ImportJobInfo(
        id=row["id"],
        commune_id=row["commune"],
        agent_id=row["agent"],
        file_name=row["file_name"],
        source=row["source"],
        status=row["status"],
        counts=json.loads(row["counts"] or "{}"),
        report=json.loads(row["report"] or "{}"),
        progress=row["progress"],
        has_pdf_archive=bool(row["has_pdf_archive"]),
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        agent_label=_agent_label(row),
    )
