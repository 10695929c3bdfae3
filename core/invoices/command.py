"""`portail import invoices FILE --commune SLUG [--pdf-dir DIR]`: the import from a terminal."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core import db
from core.communes.services import sync_communes
from core.i18n import t
from core.invoices.importer import ImportLineError, ImportReport, import_invoices
from core.plugins import get_plugin_manager
from core.settings import Settings
from core.setup import load_checked_config
from core.web.templates import build_jinja_env


def plural(key: str, count: int) -> str:
    """`import.cli.<key>.one` for 0 and 1 (French usage), `.many` above."""
    return t(f"import.cli.{key}.{'one' if count <= 1 else 'many'}", count=count)


def summary(report: ImportReport) -> str:
    """ "12 factures créées, 3 mises à jour, 40 inchangées, …"."""
    parts = [
        plural("created", report.created),
        plural("updated", report.updated),
        plural("unchanged", report.unchanged),
        plural("payers", report.payers_created),
        plural("pdfs", report.pdfs_attached),
        plural("alerts", report.alerts_queued),
    ]
    return ", ".join(parts) + "."


def describe(problem: ImportLineError) -> str:
    """ "ligne 7, colonne « montant » : …"."""
    if problem.column:
        return t(
            "import.cli.error_with_column",
            line=problem.line,
            column=problem.column,
            message=problem.message,
        )
    return t("import.cli.error_without_column", line=problem.line, message=problem.message)


async def import_file(
    settings: Settings, config_communes: dict[str, int], path: Path, slug: str, pdf_dir: Path | None
) -> int:
    """Run the import in an open database; prints the summary or the errors. Exit status."""
    commune_id = config_communes.get(slug)
    if commune_id is None:
        slugs = ", ".join(sorted(config_communes)) or "—"
        print(t("import.cli.unknown_commune", slug=slug, slugs=slugs), file=sys.stderr)
        return 2
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError:
        print(t("import.cli.file_missing", path=path), file=sys.stderr)
        return 2
    if pdf_dir is not None and not await asyncio.to_thread(pdf_dir.is_dir):
        print(t("import.file.pdf_dir_missing", path=pdf_dir), file=sys.stderr)
        return 2
    env = build_jinja_env(settings, get_plugin_manager())
    report = await import_invoices(
        commune_id,
        data,
        pdf_dir=pdf_dir,
        data_dir=Path(settings.data_dir),
        env=env,
        base_url=settings.base_url,
    )
    for warning in report.warnings:
        print(t("import.cli.warning", message=describe(warning)), file=sys.stderr)
    if report.errors:
        for error in report.errors:
            print(describe(error), file=sys.stderr)
        print(plural("refused", len(report.errors)), file=sys.stderr)
        return 2
    print(summary(report))
    return 0


async def run_import(settings: Settings, path: Path, slug: str, pdf_dir: Path | None) -> int:
    """Migrate and open the database, mirror the configured communes, import, close."""
    config = load_checked_config(settings.config_path)
    engine = db.use_database(settings.database_url)
    await db.open_database(engine)
    try:
        await db.migrate()
        communes = await sync_communes(config)
        return await import_file(settings, communes, path, slug, pdf_dir)
    finally:
        await db.close_database(engine)
