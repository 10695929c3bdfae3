"""The import as a whole: check, then preview (dry run) or publish in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from piccolo.engine.sqlite import TransactionType

from core import db_bulk
from core.communes.tables import Commune, Regie
from core.db import current_engine, transaction
from core.invoices.importer.alerts import alert_messages, count_alerts
from core.invoices.importer.parsing import ParsedFile, parse_invoices_csv
from core.invoices.importer.pdfs import PdfFiles, StagedPdfs, pdfs_from_dir, stage_pdfs
from core.invoices.importer.report import ImportReport
from core.invoices.importer.writing import (
    links_to_add,
    plan_invoices,
    plan_payers,
    refresh_statistics,
    write_invoices,
    write_links,
    write_payers,
)
from core.mail.bulk import enqueue_many

# PostgreSQL: imports of one commune wait for each other (advisory lock, this key and the id).
_PG_LOCK_KEY = 0x504F5254  # "PORT"


async def plan_import(
    commune_id: int, data: str | bytes, *, pdfs: PdfFiles | None = None, data_dir: Path
) -> ImportReport:
    """What importing `data` would do, writing nothing (no row, no PDF, no e-mail).

    The report has `dry_run` set, the lines refused (`errors`, each with its line, column and
    French reason), the PDF warnings, and the counts publishing would give against the
    database as it stands: invoices created, updated and unchanged, payers created, PDFs
    attached (`data_dir` tells which are already in place) and alert e-mails queued.
    Raises LookupError for an unknown commune.
    """
    return await _run(commune_id, data, pdfs, data_dir, None, "", dry_run=True)


async def run_import(
    commune_id: int,
    data: str | bytes,
    *,
    pdfs: PdfFiles | None = None,
    data_dir: Path,
    env: jinja2.Environment,
    base_url: str,
    dry_run: bool = False,
) -> ImportReport:
    """Import a billing export (`data`, the CSV file) for the commune `commune_id`.

    Every line is checked first (in a worker thread); with one error, nothing is written and
    the report lists them all. Otherwise the PDFs of `pdfs` (`pdfs_from_dir()` or
    `pdfs_from_zip()`) are copied under `data_dir`, then payers, invoices, account links and
    the alert e-mails (rendered with `env`, linking to `base_url`) are written in one
    transaction. With `dry_run`, stops before writing anything: see `plan_import()`.
    Raises LookupError for an unknown commune.
    """
    return await _run(commune_id, data, pdfs, data_dir, env, base_url, dry_run=dry_run)


async def import_invoices(
    commune_id: int,
    csv_text: str | bytes,
    *,
    pdf_dir: Path | None,
    data_dir: Path,
    env: jinja2.Environment,
    base_url: str,
) -> ImportReport:
    """`run_import()` with the PDFs of a directory (`<number>.pdf`), as the command does.

    Returns the report: with `errors`, nothing was written. Raises LookupError for an unknown
    commune and NotADirectoryError for a `pdf_dir` that is not a directory.
    """
    await _commune(commune_id)
    pdfs = None if pdf_dir is None else await asyncio.to_thread(pdfs_from_dir, pdf_dir)
    return await run_import(
        commune_id, csv_text, pdfs=pdfs, data_dir=data_dir, env=env, base_url=base_url
    )


@dataclass
class _Job:
    commune_id: int
    commune: dict[str, Any]
    regies: dict[str, int]
    data: str | bytes
    pdfs: PdfFiles | None
    data_dir: Path
    env: jinja2.Environment | None
    base_url: str
    dry_run: bool


async def _commune(commune_id: int) -> dict[str, Any]:
    commune = await Commune.select(Commune.slug, Commune.name).where(Commune.id == commune_id)
    if not commune:
        raise LookupError(f"no commune with id {commune_id}")
    return commune[0]


async def _run(
    commune_id: int,
    data: str | bytes,
    pdfs: PdfFiles | None,
    data_dir: Path,
    env: jinja2.Environment | None,
    base_url: str,
    *,
    dry_run: bool,
) -> ImportReport:
    commune = await _commune(commune_id)
    regies = {
        row["code"]: row["id"]
        for row in await Regie.select(Regie.id, Regie.code).where(Regie.commune == commune_id)
    }
    job = _Job(commune_id, commune, regies, data, pdfs, data_dir, env, base_url, dry_run)
    with _gc_paused():
        return await _import(job)


async def _import(job: _Job) -> ImportReport:
    clock = _Clock()
    parsed = await asyncio.to_thread(parse_invoices_csv, job.data, job.regies)
    report = ImportReport(
        lines=len(parsed.lines), errors=parsed.errors, dry_run=job.dry_run, timings=clock.timings
    )
    clock.lap("parse")
    if parsed.errors:
        report.lines = 0
        return report
    staged = await asyncio.to_thread(
        stage_pdfs, parsed.lines, job.pdfs, job.data_dir, job.commune_id, dry_run=job.dry_run
    )
    report.warnings = staged.warnings
    clock.lap("pdfs")
    if job.dry_run:
        async with _read_transaction():
            await _preview(job, parsed, staged, report, clock)
        return report
    if job.env is None:
        raise TypeError("publishing an import needs the Jinja environment of its e-mails")
    async with transaction():
        await _publish(job, job.env, parsed, staged, report, clock)
    clock.lap("commit")
    return report


def _read_transaction() -> Any:
    """The transaction of a dry run's reads (`db_bulk` reads in one): on SQLite a deferred
    one, which reads a snapshot without taking the write lock, so writers keep going."""
    if db_bulk.is_postgres():
        return current_engine().transaction()
    return current_engine().transaction(transaction_type=TransactionType.deferred)


async def _preview(
    job: _Job, parsed: ParsedFile, staged: StagedPdfs, report: ImportReport, clock: _Clock
) -> None:
    """The steps of `_publish()` up to their writes, new payers under placeholder ids."""
    payers = await plan_payers(job.commune_id, parsed)
    payer_ids, new_addresses = payers.resolve(payers.placeholder_ids())
    report.payers_created = len(payers.new_refs)
    clock.lap("payers")
    links = await links_to_add(job.commune_id, new_addresses)
    clock.lap("links")
    plan = await plan_invoices(job.commune_id, parsed, payer_ids, staged)
    plan.count(report)
    clock.lap("compare")
    report.alerts_queued = await count_alerts(job.commune_id, plan.new_by_payer, links)
    clock.lap("alerts")


async def _publish(
    job: _Job,
    env: jinja2.Environment,
    parsed: ParsedFile,
    staged: StagedPdfs,
    report: ImportReport,
    clock: _Clock,
) -> None:
    """Payers, account links, invoices and alerts, in the caller's transaction."""
    commune_id = job.commune_id
    if db_bulk.is_postgres():
        await db_bulk.fetch("SELECT pg_advisory_xact_lock(?, ?)", [_PG_LOCK_KEY, commune_id])
    payers = await plan_payers(commune_id, parsed)
    payer_ids, new_addresses = await write_payers(commune_id, parsed, payers)
    report.payers_created = len(payers.new_refs)
    clock.lap("payers")
    await write_links(await links_to_add(commune_id, new_addresses))
    clock.lap("links")
    plan = await plan_invoices(commune_id, parsed, payer_ids, staged)
    clock.lap("compare")
    await write_invoices(plan, report)
    clock.lap("write")
    messages = await alert_messages(commune_id, job.commune, plan.new_by_payer, env, job.base_url)
    report.alerts_queued = await enqueue_many(messages, commune_id=commune_id)
    clock.lap("alerts")
    await refresh_statistics(report)
    clock.lap("analyze")


_gc_pauses = 0


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while an import runs.

    An import allocates hundreds of thousands of objects that live until it ends, which makes
    the collector walk them all again and again: about a second out of eight for 100,000 lines,
    in pauses of up to 250 ms that stall the event loop. Reference counting still frees
    everything meanwhile; the collector resumes when the last running import ends.
    """
    global _gc_pauses
    if _gc_pauses == 0 and not gc.isenabled():
        yield  # someone else turned it off: leave it alone
        return
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0:
            gc.enable()


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self._last
        self._last = now
