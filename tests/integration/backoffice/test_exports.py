"""Exports of the invoices settled online: CSV (BOM, `;`, decimal comma, neutralised cells),
XLSX, read in batches, refused to a lecteur, journalled."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from typing import Any

import pytest

from core.backoffice import exports
from core.backoffice.journal import list_entries
from core.backoffice.tables import GESTIONNAIRE, LECTEUR
from tests.integration.backoffice.payment_rows import (
    add_attempt,
    add_regie,
    add_settled_invoices,
)
from tests.integration.backoffice.web import commune_of, signed_in_agent
from tests.integration.conftest import Portal, add_invoice, add_payer

CSV = "/boe/gestion/paiements/export.csv"
XLSX = "/boe/gestion/paiements/export.xlsx"


def paris(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00+01:00")


async def _settled(portal: Portal) -> None:
    """Two settled invoices in January (one by a payer whose name is a formula), one in
    February, one attempt refused, and a settled invoice of Aure."""
    martin = await add_payer("boe", "FAM-1", "Famille Martin", "claire@example.org")
    evil = await add_payer("boe", "-2", '=HYPERLINK("http://evil.test","x")', "evil@example.org")
    await add_attempt(
        "boe",
        [await add_invoice("boe", martin, "F-001")],
        amount=24311,
        created_at=paris("2026-01-10", 23),  # 23:00 in Paris: still the 10th
        authorisation="AUTH1",
        result_code="P",
    )
    await add_attempt(
        "boe",
        [await add_invoice("boe", evil, "F-002")],
        amount=1000,
        created_at=paris("2026-01-20"),
        authorisation="AUTH2",
        result_code="V",
    )
    await add_attempt(
        "boe", [await add_invoice("boe", martin, "F-003")], created_at=paris("2026-02-03")
    )
    await add_attempt("boe", [await add_invoice("boe", martin, "F-REFUSED")], state="refused")
    await add_regie("aure", "PERI")
    aure = await add_payer("aure", "A1", "Famille Aure", "jean@example.org")
    await add_attempt("aure", [await add_invoice("aure", aure, "AURE-1")], regie="PERI")


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM: a spreadsheet reads UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


async def test_the_csv_export(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    await _settled(portal)
    listing = await portal.client.get("/boe/gestion/paiements/?du=2026-01-01&au=2026-01-31")
    assert 'href="/boe/gestion/paiements/export.csv?du=2026-01-01&amp;au=2026-01-31"' in (
        listing.text
    )
    response = await portal.client.get(CSV + "?du=2026-01-01&au=2026-01-31")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        'attachment; filename="paiements-boe-2026-01-01-2026-01-31.csv"'
    )
    lines = read_csv(response.content)
    assert lines[0] == [
        "Régie",
        "Identifiant collectivité (numcli)",
        "Facture",
        "Payeur",
        "Référence du payeur",
        "Montant",
        "Date",
        "Mode",
        "Numéro d’autorisation",
        "Identifiant de l’opération (idop)",
        "Référence du paiement (refdet)",
    ]
    assert len(lines) == 3  # January's two settled invoices; not February's, Aure's, refused
    first, second = lines[1], lines[2]
    assert first[:9] == [
        "CANT",
        "004200",
        "F-001",
        "Famille Martin",
        "FAM-1",
        "243,11",
        "10/01/2026",
        "carte bancaire",
        "AUTH1",
    ]
    assert first[9].startswith("idop-") and first[10].startswith("20260101TEST")
    # A payer's name (or reference) that a spreadsheet would run is neutralised.
    assert second[3] == '\'=HYPERLINK("http://evil.test","x")'
    assert second[4] == "'-2"
    assert second[5] == "10,00" and second[7] == "prélèvement"
    everything = read_csv((await portal.client.get(CSV)).content)
    assert [line[2] for line in everything[1:]] == ["F-001", "F-002", "F-003"]
    entries = (await list_entries(commune_of(portal, "boe").id)).entries
    exported = [e for e in entries if e.action == "payments.export"]
    assert [e.after for e in exported] == [
        {"format": "csv", "from": None, "to": None},
        {"format": "csv", "from": "2026-01-01", "to": "2026-01-31"},
    ]


async def test_a_wrong_date_exports_nothing(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    response = await portal.client.get(CSV + "?du=32/01/2026", follow_redirects=False)
    assert response.status_code == 303
    page = await portal.client.get(response.headers["location"])
    assert "Date non valide" in page.text


async def test_the_xlsx_export(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    await _settled(portal)
    response = await portal.client.get(XLSX + "?du=01/01/2026")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="paiements-boe-2026-01-01-fin.xlsx"'
    )
    with zipfile.ZipFile(io.BytesIO(response.content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode("utf-8")
        strings = (
            sheet + book.read("xl/sharedStrings.xml").decode("utf-8")
            if ("xl/sharedStrings.xml" in book.namelist())
            else sheet
        )
    assert "Identifiant collectivité (numcli)" in strings
    assert "F-001" in strings and "F-003" in strings and "AURE-1" not in strings
    assert "&apos;=HYPERLINK" in strings or "'=HYPERLINK" in strings
    assert "<f>" not in sheet  # no formula anywhere
    assert re.search(r"<v>243\.11</v>", sheet)  # the amount, as a number


async def test_a_lecteur_exports_nothing(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    assert (await portal.client.get(CSV)).status_code == 403
    assert (await portal.client.get(XLSX)).status_code == 403
    entries = (await list_entries(commune_of(portal, "boe").id)).entries
    assert not [e for e in entries if e.action == "payments.export"]


async def test_the_export_reads_in_batches(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    payer = await add_payer("boe", "FAM-1", "Famille Martin", "claire@example.org")
    await add_settled_invoices("boe", payer, 2001, paid_at=paris("2026-03-02"))
    batches: list[int] = []
    original = exports.batch_after

    async def counted(*args: Any) -> list[dict[str, Any]]:
        rows = await original(*args)
        batches.append(len(rows))
        return rows

    monkeypatch.setattr(exports, "batch_after", counted)
    lines = read_csv((await portal.client.get(CSV)).content)
    assert len(lines) == 2002
    assert batches == [1000, 1000, 1]  # keyset pages of 1000: never everything at once
    assert lines[-1][2] == "BULK-002000" and lines[1][5] == "12,50"
    batches.clear()
    response = await portal.client.get(XLSX)
    assert response.status_code == 200 and batches == [1000, 1000, 1]
