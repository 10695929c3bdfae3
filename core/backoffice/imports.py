"""Import jobs: an uploaded CSV (and optional ZIP of PDFs) waiting to be checked and published.

The row keeps the state, counts and the importer's report; the files are kept in the data
directory, `<PORTAIL_DATA_DIR>/imports/<id>/`, under fixed names (the uploaded name is only
recorded, never used as a path). The importer itself is wired by the back office's pages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.backoffice import journal
from core.backoffice.journal import Actor
from core.backoffice.tables import IMPORT_SOURCES, IMPORT_STATES, ImportJob
from core.clock import now
from core.db import transaction

CSV_NAME = "factures.csv"
PDF_ARCHIVE_NAME = "pdf.zip"
FINAL_STATES = ("published", "failed", "discarded")
FILE_NAME_MAX_LENGTH = 255


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
    )
