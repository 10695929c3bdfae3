"""The invoice import: parsing, upsert, errors, PDFs, alerts and the `portail import` command."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

import core.piccolo_conf as piccolo_conf
from core import db
from core.accounts.tables import Account, AccountPayer, Payer, PayerEmail
from core.cli import main
from core.communes.services import sync_communes
from core.communes.tables import Commune
from core.config import parse_config
from core.invoices.importer import (
    COLUMNS,
    ImportLineError,
    ImportReport,
    PdfFiles,
    import_invoices,
    pdf_relative_path,
    pdfs_from_zip,
    plan_import,
)
from core.invoices.importer import run_import as publish_import  # (a fixture is `run_import`)
from core.invoices.tables import Invoice
from core.mail.tables import OutboundEmail
from core.plugins import get_plugin_manager
from core.settings import Settings
from core.web.templates import build_jinja_env
from tests.integration.conftest import CONFIG, Portal, add_payer

HEADER = ";".join(c.name for c in COLUMNS)
ALERT_SUBJECT = "Nouvelles factures disponibles sur le portail des factures"
MINIMAL_PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"

DEFAULTS: dict[str, str] = {
    "reference_debiteur": "B-1",
    "nom_debiteur": "Famille Martin",
    "emails": "claire@example.org",
    "regie": "CANT",
    "numero_facture": "F-001",
    "reference_paiement": "2026000001",
    "objet": "Cantine janvier 2026",
    "date_emission": "05/02/2026",
    "date_echeance": "28/02/2026",
    "montant": "243,11",
    "montant_regle": "",
    "statut": "à régler",
    "date_reglement": "",
    "mode_reglement": "",
    "numero_autorisation": "",
    "prelevement": "non",
    "date_prelevement": "",
}


def row(**values: str) -> str:
    unknown = set(values) - set(DEFAULTS)
    assert not unknown, unknown
    merged = {**DEFAULTS, **values}
    return ";".join(merged[c.name] for c in COLUMNS)


def csv_file(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


FIRST_FILE = csv_file(
    row(),
    row(
        numero_facture="F-002",
        objet="Garderie janvier 2026",
        montant="32,00",
        montant_regle="32",
        statut="Réglée",
        date_reglement="20/02/2026",
        mode_reglement="en ligne",
        numero_autorisation="PF-123456",
    ),
    row(
        reference_debiteur="B-2",
        nom_debiteur="Famille Benali",
        emails="Y.Benali@Example.org, s.benali@example.org",
        numero_facture="F-003",
        montant="1 234,56",
        statut="a regler",
        prelevement="oui",
        date_prelevement="10/03/2026",
    ),
    row(
        reference_debiteur="B-2",
        nom_debiteur="Famille Benali",
        emails="y.benali@example.org",
        numero_facture="F-004",
        montant="87.60",
        statut="TRÉSORERIE",
        date_echeance="",
    ),
)


@pytest.fixture
def env(settings: Settings) -> jinja2.Environment:
    return build_jinja_env(settings, get_plugin_manager())


@pytest.fixture
async def communes(clean_db: db.Engine) -> dict[str, int]:
    """The test communes mirrored in the database (boe has the régie CANT, aure none)."""
    return await sync_communes(parse_config(CONFIG))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


class Importer:
    def __init__(self, env: jinja2.Environment, data_dir: Path, base_url: str) -> None:
        self.env, self.data_dir, self.base_url = env, data_dir, base_url

    async def __call__(
        self, slug: str, data: str | bytes, *, pdf_dir: Path | None = None
    ) -> ImportReport:
        commune = await Commune.select(Commune.id).where(Commune.slug == slug).first()
        assert commune is not None
        return await import_invoices(
            commune["id"],
            data,
            pdf_dir=pdf_dir,
            data_dir=self.data_dir,
            env=self.env,
            base_url=self.base_url,
        )

    async def publish(self, slug: str, data: str | bytes, *, pdfs: PdfFiles) -> ImportReport:
        """`run_import()` with PDFs from any source (a zip's)."""
        return await publish_import(
            await commune_id(slug),
            data,
            pdfs=pdfs,
            data_dir=self.data_dir,
            env=self.env,
            base_url=self.base_url,
        )

    async def plan(
        self, slug: str, data: str | bytes, *, pdfs: PdfFiles | None = None
    ) -> ImportReport:
        return await plan_import(await commune_id(slug), data, pdfs=pdfs, data_dir=self.data_dir)


async def commune_id(slug: str) -> int:
    commune = await Commune.select(Commune.id).where(Commune.slug == slug).first()
    assert commune is not None
    return int(commune["id"])


@pytest.fixture
async def run_import(
    communes: dict[str, int], env: jinja2.Environment, data_dir: Path, settings: Settings
) -> AsyncIterator[Importer]:
    yield Importer(env, data_dir, settings.base_url)


async def invoices() -> dict[str, dict[str, Any]]:
    return {row["number"]: row for row in await Invoice.select()}


async def counts() -> tuple[int, int, int, int]:
    return (
        await Invoice.count(),
        await Payer.count(),
        await PayerEmail.count(),
        await OutboundEmail.count(),
    )


# --- Happy path ----------------------------------------------------------------------------


async def test_an_import_creates_payers_and_invoices(run_import: Importer) -> None:
    report = await run_import("boe", FIRST_FILE)
    assert report.errors == [] and report.warnings == []
    assert (report.created, report.updated, report.unchanged) == (4, 0, 0)
    assert report.payers_created == 2 and report.lines == 4

    rows = await invoices()
    first = rows["F-001"]
    assert first["amount_cents"] == 24311 and first["paid_cents"] == 0
    assert first["issued_on"] == dt.date(2026, 2, 5) and first["due_on"] == dt.date(2026, 2, 28)
    assert first["status"] == "a_regler" and first["payment_mode"] == ""
    assert first["payment_reference"] == "2026000001" and first["object"] == "Cantine janvier 2026"
    assert first["direct_debit"] is False and first["pdf_path"] == ""

    paid = rows["F-002"]
    assert paid["status"] == "reglee" and paid["paid_cents"] == 3200
    assert paid["paid_on"] == dt.date(2026, 2, 20)
    assert paid["payment_mode"] == "en_ligne" and paid["authorisation_number"] == "PF-123456"

    debit = rows["F-003"]
    assert debit["amount_cents"] == 123456 and debit["direct_debit"] is True
    assert debit["debit_on"] == dt.date(2026, 3, 10)
    assert rows["F-004"]["status"] == "tresorerie" and rows["F-004"]["due_on"] is None
    assert rows["F-004"]["amount_cents"] == 8760

    payers = {p["external_ref"]: p for p in await Payer.select()}
    assert payers["B-2"]["name"] == "Famille Benali"
    assert rows["F-003"]["payer"] == payers["B-2"]["id"]
    emails = {(e["payer"], e["email"]) for e in await PayerEmail.select()}
    assert emails == {
        (payers["B-1"]["id"], "claire@example.org"),
        (payers["B-2"]["id"], "y.benali@example.org"),
        (payers["B-2"]["id"], "s.benali@example.org"),
    }
    regie = rows["F-001"]["regie"]
    assert all(r["regie"] == regie for r in rows.values())


async def test_reimporting_the_same_file_changes_nothing(run_import: Importer) -> None:
    await run_import("boe", FIRST_FILE)
    before = await invoices()
    report = await run_import("boe", FIRST_FILE)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)
    assert report.payers_created == 0 and report.alerts_queued == 0
    assert await invoices() == before  # updated_at included
    assert await PayerEmail.count() == 3


async def test_a_changed_file_updates_amounts_and_settles_by_cheque(run_import: Importer) -> None:
    await run_import("boe", FIRST_FILE)
    untouched = (await invoices())["F-004"]
    changed = csv_file(
        row(montant="250,00"),
        row(
            numero_facture="F-003",
            reference_debiteur="B-2",
            nom_debiteur="Famille Benali-Durand",
            emails="nouvelle@example.org",
            montant="1 234,56",
            montant_regle="1 234,56",
            statut="réglée",
            date_reglement="01/03/2026",
            mode_reglement="Chèque",
            prelevement="oui",
            date_prelevement="10/03/2026",
        ),
    )
    report = await run_import("boe", changed)
    assert (report.created, report.updated, report.unchanged) == (0, 2, 0)
    rows = await invoices()
    assert rows["F-001"]["amount_cents"] == 25000
    assert rows["F-001"]["updated_at"] > rows["F-001"]["published_at"]
    settled = rows["F-003"]
    assert settled["status"] == "reglee" and settled["payment_mode"] == "cheque"
    assert settled["paid_cents"] == 123456 and settled["paid_on"] == dt.date(2026, 3, 1)
    assert rows["F-004"] == untouched  # not in the file: left alone
    assert len(rows) == 4
    benali = await Payer.select().where(Payer.external_ref == "B-2").first()
    assert benali is not None and benali["name"] == "Famille Benali-Durand"
    addresses = {
        e["email"] for e in await PayerEmail.select().where(PayerEmail.payer == benali["id"])
    }
    assert addresses == {"y.benali@example.org", "s.benali@example.org", "nouvelle@example.org"}


async def test_bom_crlf_decimal_comma_and_iso_dates(run_import: Importer) -> None:
    text = csv_file(
        row(montant="1 234,5", date_emission="2026-02-05", date_echeance="2026-02-28"),
        row(numero_facture="F-002", montant="12 €", date_emission="5/2/2026"),
        row(numero_facture="F-003", montant="243.11", montant_regle="0,5"),
        row(numero_facture="F-004", montant="1.234,56"),
    ).replace("\n", "\r\n")
    report = await run_import("boe", "\ufeff".encode() + text.encode("utf-8"))
    assert report.errors == [] and report.created == 4
    rows = await invoices()
    assert rows["F-001"]["amount_cents"] == 123450
    assert rows["F-001"]["issued_on"] == dt.date(2026, 2, 5)
    assert rows["F-002"]["amount_cents"] == 1200
    assert rows["F-002"]["issued_on"] == dt.date(2026, 2, 5)
    assert rows["F-003"]["amount_cents"] == 24311 and rows["F-003"]["paid_cents"] == 50
    assert rows["F-004"]["amount_cents"] == 123456


async def test_headers_are_matched_loosely_and_optional_columns_may_be_absent(
    run_import: Importer,
) -> None:
    header = (
        "Référence débiteur;Nom débiteur;E-mail;Régie;Numéro facture;Date émission;Montant;Statut"
    )
    text = csv_file(
        "B-9;Famille Petit;petit@example.org;cant;F-9;05/02/2026;10,00;À régler", header=header
    )
    report = await run_import("boe", text)
    assert report.errors == [] and report.created == 1
    invoice = (await invoices())["F-9"]
    assert invoice["amount_cents"] == 1000 and invoice["due_on"] is None


# --- Errors --------------------------------------------------------------------------------


async def test_every_wrong_line_is_reported_and_nothing_is_written(run_import: Importer) -> None:
    await run_import("boe", FIRST_FILE)
    before = await counts()
    snapshot = await invoices()
    text = csv_file(
        row(montant="999,99"),  # line 2: valid, would be an update
        row(numero_facture="F-010", regie="XXX"),  # 3
        row(numero_facture="F-011", montant="-12,00"),  # 4
        row(numero_facture="F-012", date_emission="31/02/2026"),  # 5
        row(numero_facture="F-001"),  # 6: duplicate of line 2
        row(numero_facture="F-013", statut="réglée"),  # 7: no payment date
        row(numero_facture="F-014", montant="10,00", montant_regle="12,00"),  # 8
        row(numero_facture="F-015", date_echeance="01/01/2026"),  # 9: before the issue
        row(numero_facture="F-016", nom_debiteur=""),  # 10
        row(numero_facture="F-017", objet="x" * 201),  # 11
        row(numero_facture="F-018", statut="payée"),  # 12
        row(numero_facture="F-019", mode_reglement="bitcoin"),  # 13
        row(numero_facture="F-020", prelevement="peut-être"),  # 14
        row(numero_facture="F-021", emails="claire@example.org, pas-une-adresse"),  # 15
        row(numero_facture="F-022", montant="12,345"),  # 16
        "B-1;Famille Martin;CANT",  # 17: too few fields
        row(reference_debiteur="B-3", nom_debiteur="Nouveau", numero_facture="F-023"),  # 18: ok
        row(numero_facture="F-024", montant="douze"),  # 19
        row(numero_facture="F-025", date_reglement="2026-13-01"),  # 20
    )
    report = await run_import("boe", text)
    found = {(e.line, e.column) for e in report.errors}
    assert found == {
        (3, "regie"),
        (4, "montant"),
        (5, "date_emission"),
        (6, "numero_facture"),
        (7, "date_reglement"),
        (8, "montant_regle"),
        (9, "date_echeance"),
        (10, "nom_debiteur"),
        (11, "objet"),
        (12, "statut"),
        (13, "mode_reglement"),
        (14, "prelevement"),
        (15, "emails"),
        (16, "montant"),
        (17, ""),
        (19, "montant"),
        (20, "date_reglement"),
    }
    messages = {(e.line, e.column): e.message for e in report.errors}
    assert messages[(3, "regie")] == (
        "Régie « XXX » inconnue pour cette commune (régies connues : CANT)."
    )
    assert messages[(4, "montant")] == "Le montant ne peut pas être négatif (-12,00)."
    assert "31/02/2026" in messages[(5, "date_emission")]
    assert messages[(6, "numero_facture")] == "Ce numéro de facture figure déjà ligne 2 du fichier."
    assert messages[(7, "date_reglement")] == "Une facture réglée doit avoir une date de règlement."
    assert "12,00" in messages[(8, "montant_regle")] and "10,00" in messages[(8, "montant_regle")]
    assert messages[(10, "nom_debiteur")] == "Valeur obligatoire manquante."
    assert "201 caractères, 200 au plus" in messages[(11, "objet")]
    assert "pas-une-adresse" in messages[(15, "emails")]
    assert "3 champs au lieu de 17" in messages[(17, "")]
    assert report.created == report.updated == 0
    assert await counts() == before  # the valid lines were not written either
    assert await invoices() == snapshot
    assert await Payer.count().where(Payer.external_ref == "B-3") == 0


async def test_header_errors_name_the_column(run_import: Importer) -> None:
    header = HEADER.replace("montant_regle", "montant_regl").replace(";statut", "")
    report = await run_import("boe", csv_file("x", header=header))
    assert report.errors == [
        ImportLineError(1, "montant_regl", report.errors[0].message),
        ImportLineError(1, "statut", "Colonne obligatoire absente de la ligne d’en-tête."),
    ]
    assert report.errors[0].message.startswith("Colonne inconnue. Colonnes acceptées :")
    assert await Invoice.count() == 0


async def test_an_empty_file_and_a_file_not_in_utf8_are_errors(run_import: Importer) -> None:
    empty = await run_import("boe", b"")
    assert [(e.line, e.column) for e in empty.errors] == [(1, "")]
    latin1 = csv_file(row(), row(numero_facture="F-002", objet="Goûter")).encode("latin-1")
    report = await run_import("boe", latin1)
    assert [(e.line, e.column) for e in report.errors] == [(2, "")]  # "à régler"
    assert "UTF-8" in report.errors[0].message
    assert await Invoice.count() == 0


async def test_a_nul_character_makes_its_line_unreadable_and_nothing_is_written(
    run_import: Importer,
) -> None:
    """PostgreSQL refuses NUL in text: it used to crash the import there (issue 11, item 10)."""
    await run_import("boe", FIRST_FILE)
    before, snapshot = await counts(), await invoices()
    text = csv_file(
        row(montant="999,99"),  # line 2: valid, would be an update
        row(numero_facture="F-030", objet="Cantine\x00"),  # 3
        row(reference_debiteur="B-7", nom_debiteur="Famille\x00Nul", numero_facture="F-031"),
        row(numero_facture="F-032", emails="nul\x00@example.org"),  # 5
    )
    report = await run_import("boe", text.encode("utf-8"))
    unreadable = "Ligne illisible (guillemets mal fermés ou caractère nul)."
    assert report.errors == [
        ImportLineError(3, "objet", unreadable),
        ImportLineError(4, "nom_debiteur", unreadable),
        ImportLineError(5, "emails", unreadable),
    ]
    assert await counts() == before and await invoices() == snapshot
    assert await Payer.count().where(Payer.external_ref == "B-7") == 0
    header = await run_import("boe", csv_file(row(), header=HEADER.replace("objet", "ob\x00jet")))
    assert header.errors == [ImportLineError(1, "", unreadable)]
    assert await counts() == before


async def test_a_header_only_file_imports_nothing(run_import: Importer) -> None:
    report = await run_import("boe", csv_file())
    assert report.ok and report.created == report.lines == 0


async def test_regies_are_per_commune(run_import: Importer) -> None:
    report = await run_import("aure", csv_file(row()))
    assert [(e.line, e.column) for e in report.errors] == [(2, "regie")]


async def test_invoice_numbers_are_per_commune(
    communes: dict[str, int], run_import: Importer
) -> None:
    async with db.transaction():
        from core.communes.tables import Regie

        await Regie.insert(Regie(commune=communes["aure"], code="CANT", name="Cantine"))
    await run_import("boe", csv_file(row()))
    report = await run_import("aure", csv_file(row(montant="1,00")))
    assert report.created == 1 and report.payers_created == 1
    rows = await Invoice.select(Invoice.commune, Invoice.amount_cents).where(
        Invoice.number == "F-001"
    )
    assert sorted(r["amount_cents"] for r in rows) == [100, 24311]


# --- PDFs ----------------------------------------------------------------------------------


async def test_pdfs_are_matched_by_invoice_number(
    run_import: Importer, tmp_path: Path, data_dir: Path, communes: dict[str, int]
) -> None:
    pdf_dir = tmp_path / "pdf"
    pdf_dir.mkdir()
    (pdf_dir / "F-001.pdf").write_bytes(MINIMAL_PDF)
    (pdf_dir / "F-002.pdf").write_bytes(b"<html>not a pdf</html>")
    (pdf_dir / "autre.pdf").write_bytes(MINIMAL_PDF)
    text = csv_file(
        row(),
        row(numero_facture="F-002"),
        row(numero_facture="F-003"),
        row(numero_facture="2026/004"),
    )
    (pdf_dir / "2026_004.pdf").write_bytes(MINIMAL_PDF + b"%4")  # a number with a slash
    report = await run_import("boe", text, pdf_dir=pdf_dir)
    assert report.errors == [] and report.created == 4 and report.pdfs_attached == 2
    assert [(w.line, w.column) for w in report.warnings] == [(3, "numero_facture")]
    assert "F-002.pdf" in report.warnings[0].message

    rows = await invoices()
    boe = communes["boe"]
    assert rows["F-001"]["pdf_path"] == f"pdfs/{boe}/F-001.pdf"
    assert (data_dir / rows["F-001"]["pdf_path"]).read_bytes() == MINIMAL_PDF
    assert rows["F-002"]["pdf_path"] == "" and rows["F-003"]["pdf_path"] == ""
    slashed = rows["2026/004"]["pdf_path"]
    assert slashed == pdf_relative_path(boe, "2026/004")
    assert "/" not in slashed.removeprefix(f"pdfs/{boe}/")
    assert (data_dir / slashed).read_bytes().endswith(b"%4")

    again = await run_import("boe", text, pdf_dir=pdf_dir)
    assert (again.updated, again.unchanged, again.pdfs_attached) == (0, 4, 0)
    no_dir = await run_import("boe", text)  # without PDFs, the attached ones stay
    assert no_dir.unchanged == 4 and (await invoices())["F-001"]["pdf_path"]

    (pdf_dir / "F-001.pdf").write_bytes(MINIMAL_PDF + b"% v2")
    replaced = await run_import("boe", text, pdf_dir=pdf_dir)
    assert replaced.pdfs_attached == 1 and replaced.unchanged == 4
    assert (data_dir / rows["F-001"]["pdf_path"]).read_bytes().endswith(b"% v2")


async def test_a_missing_pdf_directory_is_refused(run_import: Importer, tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        await run_import("boe", csv_file(row()), pdf_dir=tmp_path / "absent")


async def test_pdfs_from_a_zip_are_attached_like_those_of_a_directory(
    run_import: Importer, data_dir: Path, communes: dict[str, int]
) -> None:
    def zipped(*entries: tuple[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, content in entries:
                zf.writestr(name, content)
        return buffer.getvalue()

    text = csv_file(row(), row(numero_facture="F-002"), row(numero_facture="2026/004"))
    archive = zipped(("F-001.pdf", MINIMAL_PDF), ("lot/2026_004.PDF", MINIMAL_PDF + b"%4"))
    report = await run_import.publish("boe", text, pdfs=pdfs_from_zip(archive))
    assert report.errors == [] and report.warnings == []
    assert report.created == 3 and report.pdfs_attached == 2
    rows = await invoices()
    boe = communes["boe"]
    assert rows["F-001"]["pdf_path"] == f"pdfs/{boe}/F-001.pdf" and rows["F-002"]["pdf_path"] == ""
    assert (data_dir / rows["F-001"]["pdf_path"]).read_bytes() == MINIMAL_PDF
    assert (data_dir / pdf_relative_path(boe, "2026/004")).read_bytes().endswith(b"%4")

    again = await run_import.publish("boe", text, pdfs=pdfs_from_zip(archive))
    assert (again.unchanged, again.pdfs_attached) == (3, 0)
    newer = pdfs_from_zip(zipped(("F-001.pdf", MINIMAL_PDF + b"% v2")))
    preview = await run_import.plan("boe", text, pdfs=newer)
    assert preview.dry_run and (preview.unchanged, preview.pdfs_attached) == (3, 1)
    assert (data_dir / rows["F-001"]["pdf_path"]).read_bytes() == MINIMAL_PDF  # not copied
    replaced = await run_import.publish("boe", text, pdfs=newer)
    assert replaced.pdfs_attached == 1
    assert (data_dir / rows["F-001"]["pdf_path"]).read_bytes().endswith(b"% v2")


# --- Dry run --------------------------------------------------------------------------------


def without_dry_run(report: ImportReport) -> dict[str, Any]:
    return {k: v for k, v in report.as_dict().items() if k != "dry_run"}


async def test_a_dry_run_writes_nothing_and_counts_what_publishing_does(
    run_import: Importer, tmp_path: Path, data_dir: Path
) -> None:
    pdf_dir = tmp_path / "pdf"
    pdf_dir.mkdir()
    (pdf_dir / "F-001.pdf").write_bytes(MINIMAL_PDF)
    preview = await run_import.plan("boe", FIRST_FILE, pdfs={"F-001.pdf": pdf_dir / "F-001.pdf"})
    assert preview.dry_run and preview.ok
    assert (preview.created, preview.updated, preview.unchanged) == (4, 0, 0)
    assert (preview.payers_created, preview.pdfs_attached, preview.alerts_queued) == (2, 1, 0)
    assert await counts() == (0, 0, 0, 0) and not await asyncio.to_thread(data_dir.exists)

    published = await run_import("boe", FIRST_FILE, pdf_dir=pdf_dir)
    assert not published.dry_run
    assert without_dry_run(published) == without_dry_run(preview)

    changed = csv_file(
        row(montant="250,00"),
        row(reference_debiteur="B-3", nom_debiteur="Famille Neuve", numero_facture="F-003"),
        row(numero_facture="F-005", emails="nouvelle@example.org"),
    )
    before = (await counts(), await invoices())
    preview = await run_import.plan("boe", changed)
    assert (preview.created, preview.updated, preview.unchanged) == (1, 2, 0)
    assert preview.payers_created == 1
    assert (await counts(), await invoices()) == before
    assert without_dry_run(await run_import("boe", changed)) == without_dry_run(preview)


async def test_a_dry_run_reports_every_refused_line(run_import: Importer) -> None:
    text = csv_file(row(), row(numero_facture="F-002", montant="-3"), row(regie="XXX"))
    report = await run_import.plan("boe", text)
    assert report.dry_run and not report.ok and report.lines == 0
    assert report.as_dict()["errors"] == [
        {
            "line": 3,
            "column": "montant",
            "message": "Le montant ne peut pas être négatif (-3).",
        },
        {
            "line": 4,
            "column": "regie",
            "message": "Régie « XXX » inconnue pour cette commune (régies connues : CANT).",
        },
        {
            "line": 4,
            "column": "numero_facture",
            "message": "Ce numéro de facture figure déjà ligne 2 du fichier.",
        },
    ]
    assert await counts() == (0, 0, 0, 0)


async def test_a_dry_run_counts_the_alerts_of_accounts_it_would_link(
    portal: Portal, env: jinja2.Environment, data_dir: Path
) -> None:
    importer = Importer(env, data_dir, portal.settings.base_url)
    await add_payer("boe", "B-1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    await portal.deliver()
    text = csv_file(
        row(numero_facture="F-001"),
        row(reference_debiteur="B-7", emails="Claire@Example.org", numero_facture="F-002"),
        row(reference_debiteur="B-8", emails="personne@example.org", numero_facture="F-003"),
    )
    links = await AccountPayer.count()
    preview = await importer.plan("boe", text)
    assert preview.alerts_queued == 1 and preview.payers_created == 2
    assert await AccountPayer.count() == links and await pending_alerts() == []
    again = await publish_import(
        await commune_id("boe"),
        text,
        data_dir=data_dir,
        env=env,
        base_url=portal.settings.base_url,
        dry_run=True,
    )
    assert again.as_dict() == preview.as_dict()

    report = await importer("boe", text)
    assert report.alerts_queued == 1 and len(await pending_alerts()) == 1
    assert without_dry_run(report) == without_dry_run(preview)


# --- Alerts --------------------------------------------------------------------------------


async def pending_alerts() -> list[dict[str, Any]]:
    return await OutboundEmail.select().where(OutboundEmail.subject == ALERT_SUBJECT)


async def test_an_active_account_gets_one_mail_listing_its_new_invoices(
    portal: Portal, env: jinja2.Environment, data_dir: Path
) -> None:
    importer = Importer(env, data_dir, portal.settings.base_url)
    await add_payer("boe", "B-1", "Famille Martin", "claire@example.org")
    await add_payer("boe", "B-5", "Famille Sans Compte", "personne@example.org")
    await portal.activate("boe", "claire@example.org")
    await portal.post_form("/boe/activation", {"email": "personne@example.org"})  # pending only
    await portal.deliver()

    text = csv_file(
        row(montant="12,50", date_echeance="15/03/2026"),
        row(numero_facture="F-002", objet="Garderie janvier", montant="1 234,56"),
        row(reference_debiteur="B-5", emails="personne@example.org", numero_facture="F-003"),
    )
    report = await importer("boe", text)
    assert report.created == 3 and report.alerts_queued == 1
    alerts = await pending_alerts()
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["recipient"] == "claire@example.org" and alert["status"] == "pending"
    body = alert["body_text"]
    assert "F-001" in body and "F-002" in body and "F-003" not in body
    assert "12,50\u00a0€" in body and "1\u202f234,56\u00a0€" in body
    assert "15/03/2026" in body and "Garderie janvier" in body
    assert "http://portail.test/boe/factures" in body

    again = await importer("boe", text)
    assert again.alerts_queued == 0 and len(await pending_alerts()) == 1
    updated = await importer("boe", csv_file(row(montant="13,00")))
    assert updated.updated == 1 and updated.alerts_queued == 0

    mail = await portal.mail_to("claire@example.org", "Nouvelles factures")
    assert "F-002" in mail.text
    assert (await pending_alerts())[0]["status"] == "sent"


async def test_a_new_payer_address_links_the_existing_account_and_alerts_it(
    portal: Portal, env: jinja2.Environment, data_dir: Path
) -> None:
    importer = Importer(env, data_dir, portal.settings.base_url)
    await add_payer("boe", "B-1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    account = await Account.select(Account.id).where(Account.email == "claire@example.org").first()
    assert account is not None

    text = csv_file(
        row(
            reference_debiteur="B-7", nom_debiteur="Famille Martin-Roy", emails="Claire@Example.org"
        )
    )
    report = await importer("boe", text)
    assert report.payers_created == 1 and report.alerts_queued == 1
    payer = await Payer.select(Payer.id).where(Payer.external_ref == "B-7").first()
    assert payer is not None
    assert await AccountPayer.exists().where(
        (AccountPayer.account == account["id"]) & (AccountPayer.payer == payer["id"])
    )
    assert "F-001" in (await pending_alerts())[0]["body_text"]


async def test_alerts_for_many_accounts_are_queued_in_bulk(
    run_import: Importer, communes: dict[str, int]
) -> None:
    now = dt.datetime.now(dt.UTC)
    async with db.transaction():
        await Account.insert(
            *[
                Account(
                    commune=communes["boe"],
                    email=f"parent{n}@example.org",
                    state="active",
                    created_at=now,
                    activated_at=now,
                )
                for n in range(300)
            ]
        )
    text = csv_file(
        *[
            row(
                reference_debiteur=f"P{n}",
                emails=f"parent{n}@example.org",
                numero_facture=f"F{n}-{k}",
            )
            for n in range(300)
            for k in range(2)
        ]
    )
    report = await run_import("boe", text)
    assert report.created == 600 and report.alerts_queued == 300
    assert await AccountPayer.count() == 300
    alerts = await pending_alerts()
    assert len({a["recipient"] for a in alerts}) == 300
    sample = next(a for a in alerts if a["recipient"] == "parent7@example.org")
    assert "F7-0" in sample["body_text"] and "F7-1" in sample["body_text"]
    assert "F8-0" not in sample["body_text"]


# --- The command ---------------------------------------------------------------------------

TOML = """
[[communes]]
slug = "boe"
name = "Ville de Boé"
[communes.contact]
email = "facturation@boe.test"
[[communes.regies]]
code = "CANT"
name = "Cantine"
"""


@pytest.fixture
def command_env(
    clean_db: db.Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Environment for `portail import`, in a directory without `.env`; the command installs
    its own engine, so the tests' engine is put back afterwards."""
    (tmp_path / "portail.toml").write_text(TOML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "DATABASE_URL": database_url,
        "PORTAIL_CONFIG": str(tmp_path / "portail.toml"),
        "PORTAIL_SECRET_KEY": "test-secret-key-long-enough-for-32-chars",
        "PORTAIL_DATA_DIR": str(tmp_path / "data"),
        "PORTAIL_BASE_URL": "http://portail.test",
    }.items():
        monkeypatch.setenv(name, value)
    yield tmp_path
    piccolo_conf.DB = clean_db
    for table in db.all_tables():
        table._meta.db = clean_db
    db._current = clean_db


def test_command_prints_a_summary(command_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = command_env / "factures.csv"
    path.write_text(FIRST_FILE, encoding="utf-8")
    pdf_dir = command_env / "pdf"
    pdf_dir.mkdir()
    (pdf_dir / "F-001.pdf").write_bytes(MINIMAL_PDF)
    args = ["import", "invoices", str(path), "--commune", "boe", "--pdf-dir", str(pdf_dir)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.strip() == (
        "4 factures créées, 0 mise à jour, 0 inchangée, 2 débiteurs créés, 1 PDF joint, "
        "0 alerte mise en file d’envoi."
    )
    assert list((command_env / "data" / "pdfs").glob("*/F-001.pdf"))
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("0 facture créée, 0 mise à jour, 4 inchangées")


def test_command_prints_every_error_and_exits_2(
    command_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = command_env / "factures.csv"
    path.write_text(
        csv_file(
            row(), row(numero_facture="F-2", montant="-3"), row(numero_facture="F-3", regie="X")
        ),
        encoding="utf-8",
    )
    assert main(["import", "invoices", str(path), "--commune", "boe"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines[0] == "ligne 3, colonne « montant » : Le montant ne peut pas être négatif (-3)."
    assert lines[1].startswith("ligne 4, colonne « regie » : Régie « X » inconnue")
    assert lines[2] == "Import refusé : 2 erreurs, rien n’a été enregistré."


def test_command_refuses_an_unknown_commune_or_file(
    command_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = command_env / "factures.csv"
    path.write_text(FIRST_FILE, encoding="utf-8")
    assert main(["import", "invoices", str(path), "--commune", "nulle-part"]) == 2
    assert "Commune « nulle-part » inconnue (communes configurées : boe)" in capsys.readouterr().err
    assert main(["import", "invoices", "absent.csv", "--commune", "boe"]) == 2
    assert "Fichier introuvable : absent.csv" in capsys.readouterr().err


async def test_the_import_keeps_the_search_name_of_payers(run_import: Importer) -> None:
    await run_import("boe", FIRST_FILE)
    names = {p["external_ref"]: p["search_name"] for p in await Payer.select()}
    assert names == {"B-1": "martin", "B-2": "benali"}  # "Famille" left out
    await run_import("boe", csv_file(row(nom_debiteur="MARTÍN-Léa")))
    row_b1 = await Payer.select(Payer.search_name).where(Payer.external_ref == "B-1").first()
    assert row_b1 == {"search_name": "martin lea"}
