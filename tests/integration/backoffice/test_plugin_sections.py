"""The plugins' back-office sections: Dématérialisation (paper_optout) and the declared TIPI
payments (tipi_legacy), each only where its plugin is on."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json

import pytest

from core.accounts.tables import Account, AccountPayer
from core.backoffice.tables import GESTIONNAIRE, LECTEUR
from core.communes.tables import Regie
from core.config import PortalConfig, parse_config
from core.payments.tables import DECLARED, PAID, PaymentAttempt, PaymentAttemptInvoice
from core.web.formatting import TIMEZONE
from plugins.paper_optout import backoffice as paper
from plugins.paper_optout.tables import PaperPreference
from plugins.tipi_legacy.declared import PER_PAGE, declared_page, returned_fields
from tests.integration.backoffice.web import commune_of, signed_in_agent
from tests.integration.conftest import CONFIG, Portal, add_invoice, add_payer


@pytest.fixture
def portal_config() -> PortalConfig:
    """The test communes, Aure with a régie paid through TIPI."""
    raw = copy.deepcopy(CONFIG)
    raw["communes"][1]["regies"] = [
        {"code": "PERI", "name": "Périscolaire", "client_number": "004201"}
    ]
    return parse_config(raw)


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


async def add_attempt(
    slug: str,
    provider: str,
    state: str,
    refdet: str,
    invoices: list[tuple[int, int]],
    **fields: object,
) -> int:
    """A payment attempt of `slug` paying `invoices` ((invoice id, cents)...)."""
    regie = await Regie.select(Regie.id, Regie.commune).where(Regie.commune.slug == slug).first()
    assert regie is not None
    moment = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    rows = await PaymentAttempt.insert(
        PaymentAttempt(
            commune=regie["commune"],
            regie=regie["id"],
            provider=provider,
            refdet=refdet,
            numcli="004201",
            exer="2026",
            amount_cents=sum(cents for _, cents in invoices),
            email="jean@example.org",
            state=state,
            created_at=moment,
            updated_at=moment,
            **fields,
        )
    ).returning(PaymentAttempt.id)
    await PaymentAttemptInvoice.insert(
        *[
            PaymentAttemptInvoice(attempt=rows[0]["id"], invoice=invoice, amount_cents=cents)
            for invoice, cents in invoices
        ]
    )
    return int(rows[0]["id"])


async def test_declared_tipi_payments_are_listed_with_the_parents_return(portal: Portal) -> None:
    aure_payer = await add_payer("aure", "A1", "Famille Dupont", "jean@example.org")
    first = await add_invoice("aure", aure_payer, "AURE-001", amount=1250)
    second = await add_invoice("aure", aure_payer, "AURE-002", amount=3000)
    returned = {"resultrans": "P", "numauto": "123456", "montant": "4250", "refdet": "TIPI1"}
    await add_attempt(
        "aure", "tipi_legacy", DECLARED, "TIPI1", [(first, 1250), (second, 3000)],
        detail=json.dumps(returned), result_code="P", authorisation_number="123456",
    )  # fmt: skip
    await add_attempt("aure", "tipi_legacy", PAID, "TIPIPAID", [(first, 1250)])
    boe_payer = await add_payer("boe", "B1", "Famille Secrète", "claire@example.org")
    boe_invoice = await add_invoice("boe", boe_payer, "BOE-001")
    await add_attempt("boe", "tipi_legacy", DECLARED, "BOESECRET", [(boe_invoice, 24311)])

    await signed_in_agent(portal, "aure", "lecteur@aure.test", LECTEUR)
    dashboard = await portal.client.get("/aure/gestion/")
    assert 'href="/aure/gestion/paiements-tipi/"' in dashboard.text
    page = await portal.client.get("/aure/gestion/paiements-tipi")
    assert page.status_code == 200
    assert 'aria-current="page">Paiements TIPI déclarés' in page.text
    assert "TIPI1" in page.text and "Famille Dupont" in page.text
    assert "AURE-001" in page.text and "AURE-002" in page.text
    assert "42,50" in page.text and "numauto" in page.text and "123456" in page.text
    assert "TIPIPAID" not in page.text  # paid: not declared any more
    assert "BOESECRET" not in page.text and "Secrète" not in page.text  # Boé's
    assert "(1)" in page.text  # the caption counts them


async def test_declared_tipi_payments_are_404_where_tipi_is_off(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    assert "Paiements TIPI" not in (await portal.client.get("/boe/gestion/")).text
    assert (await portal.client.get("/boe/gestion/paiements-tipi")).status_code == 404


async def test_declared_tipi_payments_are_paginated(portal: Portal) -> None:
    payer = await add_payer("aure", "A1", "Famille Dupont", "jean@example.org")
    invoice = await add_invoice("aure", payer, "AURE-001")
    for number in range(PER_PAGE + 1):
        await add_attempt("aure", "tipi_legacy", DECLARED, f"T{number}", [(invoice, 100)])
    aure = commune_of(portal, "aure")
    first, last = await declared_page(aure.id, 1), await declared_page(aure.id, 5)
    assert (first.total, first.pages, len(first.rows)) == (PER_PAGE + 1, 2, PER_PAGE)
    assert last.page == 2 and len(last.rows) == 1
    assert returned_fields("not json") == [] and returned_fields('["a"]') == []
