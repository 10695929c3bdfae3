"""The plugins' back-office sections: Dématérialisation (paper_optout) and the declared TIPI
payments (tipi_legacy), each only where its plugin is on."""

from __future__ import annotations

import csv
import datetime as dt
import io

from core.accounts.tables import Account, AccountPayer
from core.backoffice.tables import GESTIONNAIRE, LECTEUR
from core.web.formatting import TIMEZONE
from plugins.paper_optout import backoffice as paper
from plugins.paper_optout.tables import PaperPreference
from tests.integration.backoffice.web import commune_of, signed_in_agent
from tests.integration.conftest import Portal, add_payer


async def optout_parent(portal: Portal, slug: str, email: str, *payers: tuple[str, str]) -> None:
    """A parent of `slug` seeing `payers` (reference, name) who gives up paper invoices."""
    for ref, name in payers:
        await add_payer(slug, ref, name, email)
    await portal.activate(slug, email)
    response = await portal.post_form(f"/{slug}/papier", {"paper_optout": "1"})
    assert response.status_code == 303, response.text
    await portal.post_form(f"/{slug}/deconnexion", {}, form_page=f"/{slug}/mes-informations")


async def test_dematerialisation_lists_the_optouts_and_exports_them(portal: Portal) -> None:
    await optout_parent(
        portal, "boe", "claire@example.org", ("B1", "Famille Martin"), ("B2", "=HYPERLIEN(1)")
    )
    await optout_parent(portal, "boe", "paul@example.org", ("B3", "Famille Durand; Petit"))
    await add_payer("boe", "B4", "Famille Papier", "papier@example.org")  # keeps paper
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)

    dashboard = await portal.client.get("/boe/gestion/")
    assert 'href="/boe/gestion/dematerialisation/"' in dashboard.text
    page = await portal.client.get("/boe/gestion/dematerialisation")
    assert page.status_code == 200
    assert 'aria-current="page">Dématérialisation' in page.text
    assert "B1 – Famille Martin" in page.text and "Famille Durand; Petit" in page.text
    assert "Famille Papier" not in page.text
    assert "<caption" in page.text and "Exporter" in page.text
    today = dt.datetime.now(dt.UTC).astimezone(TIMEZONE)
    assert today.strftime("%d/%m/%Y") in page.text

    export = await portal.client.get("/boe/gestion/dematerialisation/export")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert export.content.startswith(b"\xef\xbb\xbf")
    text = export.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "reference;nom;email;depuis"
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))[1:]
    assert sorted(rows) == sorted(
        [
            ["B1", "Famille Martin", "claire@example.org", today.strftime("%d/%m/%Y")],
            ["B2", "'=HYPERLIEN(1)", "claire@example.org", today.strftime("%d/%m/%Y")],
            ["B3", "Famille Durand; Petit", "paul@example.org", today.strftime("%d/%m/%Y")],
        ]
    )


async def test_a_lecteur_reads_but_does_not_export(portal: Portal) -> None:
    await optout_parent(portal, "boe", "claire@example.org", ("B1", "Famille Martin"))
    await signed_in_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    page = await portal.client.get("/boe/gestion/dematerialisation")
    assert page.status_code == 200 and "Famille Martin" in page.text
    assert "Exporter" not in page.text
    export = await portal.client.get("/boe/gestion/dematerialisation/export")
    assert export.status_code == 403 and "Famille Martin" not in export.text


async def test_dematerialisation_is_404_where_the_plugin_is_off(portal: Portal) -> None:
    await signed_in_agent(portal, "aure", "gestion@aure.test", GESTIONNAIRE)
    assert (await portal.client.get("/aure/gestion/")).status_code == 200
    assert "Dématérialisation" not in (await portal.client.get("/aure/gestion/")).text
    assert (await portal.client.get("/aure/gestion/dematerialisation")).status_code == 404
    assert (await portal.client.get("/aure/gestion/dematerialisation/export")).status_code == 404


async def test_the_list_is_paginated_and_the_export_streams_in_batches(portal: Portal) -> None:
    boe, aure = commune_of(portal, "boe"), commune_of(portal, "aure")
    moment = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    for number in range(paper.PER_PAGE + 3):
        commune = aure if number == 0 else boe  # one of Aure's, never shown in Boé
        payer_id = await add_payer(
            commune.slug, f"R{number:03d}", f"Famille {number:03d}", f"p{number}@example.org"
        )
        rows = await Account.insert(
            Account(commune=commune.id, email=f"p{number}@example.org", created_at=moment)
        ).returning(Account.id)
        await AccountPayer.insert(AccountPayer(account=rows[0]["id"], payer=payer_id))
        await PaperPreference.insert(
            PaperPreference(
                account=rows[0]["id"],
                paper_optout=True,
                changed_at=moment + dt.timedelta(minutes=number),
            )
        )
    first = await paper.optout_page(boe.id, 1)
    assert (first.total, first.pages, len(first.rows)) == (paper.PER_PAGE + 2, 2, paper.PER_PAGE)
    assert first.rows[0].payers == [{"ref": "R052", "name": "Famille 052"}]  # newest first
    last = await paper.optout_page(boe.id, 99)  # past the end: the last page
    assert last.page == 2 and [r.email for r in last.rows] == ["p2@example.org", "p1@example.org"]
    found = [optout async for optout in paper.all_optouts(boe.id, batch=7)]
    assert len(found) == paper.PER_PAGE + 2
    assert "p0@example.org" not in {optout.email for optout in found}

    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    page_two = await portal.client.get("/boe/gestion/dematerialisation?page=2")
    assert "Page 2 sur 2" in page_two.text and "Page précédente" in page_two.text
    fragment = await portal.client.get(
        "/boe/gestion/dematerialisation?page=2",
        headers={"hx-request": "true", "hx-target": "optout-list"},
    )
    assert fragment.text.lstrip().startswith('<div id="optout-list">')
    export = await portal.client.get("/boe/gestion/dematerialisation/export")
    assert len(export.content.decode("utf-8-sig").splitlines()) == 1 + paper.PER_PAGE + 2


def test_csv_cells_are_neutralised_and_quoted() -> None:
    assert paper.csv_cell("=1+1") == "'=1+1"
    assert paper.csv_cell("+33") == "'+33"
    assert paper.csv_cell("-2") == "'-2"
    assert paper.csv_cell("@SUM") == "'@SUM"
    assert paper.csv_cell('a;"b"') == '"a;""b"""'
    assert paper.csv_line(["a", "b"]) == "a;b\r\n"
