"""Mes factures: the three tabs, the detail and its actions, the PDF, and who may see what.

Invoices are inserted directly (`add_invoice`), as the import would. Boé enables the
`prelevement` plugin and has a régie whose online payment is suspended; Aure enables neither.
Tests named `test_hook_<name>` are required by `tests/unit/test_docs.py`.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import inspect
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar

from core.accounts.tables import Account
from core.app import create_app
from core.config import PortalConfig, parse_config
from core.db import Engine
from core.hookspecs import InvoiceAction, hookimpl
from core.invoices import services
from core.invoices.services import InvoiceView, is_payable
from core.invoices.tables import PAID, TO_PAY, TREASURY, Invoice
from core.mail.sink import MailSink
from core.plugins import collect_plugin_settings, get_plugin_manager
from core.settings import Settings
from core.web.formatting import money
from core.web.identity import SignedIn
from tests.integration.conftest import CONFIG, Portal, add_invoice, add_payer, serve, sign_in

TODAY = services.today()
CLAIRE = "claire@example.org"


# --- A fake payment plugin: its "payment" action shows only where payment is allowed ----------


class FakePaymentSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


class FakePayment:
    name = "fake_payment"

    @hookimpl
    def register_plugin_settings(self, register: Callable[[str, type], None]) -> None:
        register(self.name, FakePaymentSettings)

    @hookimpl
    def invoice_actions(self, commune: Any, invoice: InvoiceView) -> list[InvoiceAction]:
        url = commune.url(f"payer/{invoice.id}")
        return [InvoiceAction(label="Payer en ligne (essai)", url=url, kind="payment", order=30)]


FAKE_PAYMENT = FakePayment()
EXTRA = [(FakePayment.name, FAKE_PAYMENT)]
KNOWN = {
    **collect_plugin_settings(get_plugin_manager(load_entry_points=False)),
    FakePayment.name: FakePaymentSettings,
}


def invoices_config(*, commune_suspended: bool = False) -> PortalConfig:
    raw = copy.deepcopy(CONFIG)
    boe, aure = raw["communes"]
    boe["regies"] = [
        {"code": "CANT", "name": "Restauration scolaire", "client_number": "004200"},
        {"code": "GARD", "name": "Garderie", "payment_suspended": True},
    ]
    boe["plugins"]["prelevement"] = {}
    boe["plugins"][FakePayment.name] = {}
    boe["payment_suspended"] = commune_suspended
    aure["regies"] = [{"code": "PERI", "name": "Périscolaire"}]
    aure["plugins"][FakePayment.name] = {}
    return parse_config(raw, KNOWN)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return dataclasses.replace(settings, data_dir=str(tmp_path / "data"))


@pytest.fixture
def app(clean_db: Engine, settings: Settings) -> Litestar:
    return create_app(settings, config=invoices_config(), extra_plugins=EXTRA)


@pytest.fixture
async def portal(app: Litestar, mail_sink: MailSink, settings: Settings) -> AsyncIterator[Portal]:
    mail_sink.clear()
    async with serve(app) as client:
        yield Portal(client=client, sink=mail_sink, settings=settings)


# --- Helpers ---------------------------------------------------------------------------------


HTMX_LIST = {"hx-request": "true", "hx-target": "invoice-list"}
HTMX_DETAIL = {"hx-request": "true", "hx-target": "invoice-detail"}


def rows_of(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr.*?</tr>", body, flags=re.S)


# --- The tabs --------------------------------------------------------------------------------


async def test_to_pay_tab_lists_unpaid_invoices_with_total_and_overdue_mark(
    portal: Portal,
) -> None:
    payer = await sign_in(portal)
    await add_invoice(
        "boe",
        payer,
        "2017-020-002059",
        issued_on=dt.date(2017, 7, 10),
        due_on=dt.date(2017, 7, 21),
        object="Multi Services",
    )
    await add_invoice("boe", payer, "A-PARTIAL", amount=10000, paid=2500)
    await add_invoice("boe", payer, "A-PAID", status=PAID, paid=24311)
    await add_invoice("boe", payer, "A-TREASURY", status=TREASURY)

    response = await portal.client.get("/boe/factures")
    assert response.status_code == 200
    html = response.text
    assert "<title>Mes factures : à régler – Ville de Boé</title>" in html
    assert re.search(r'<a id="tab-a-regler"[^>]*aria-current="page"', html)
    assert not re.search(r'<a id="tab-reglee"[^>]*aria-current', html)
    assert "<caption>" in html and 'scope="col"' in html and 'scope="row"' in html
    for header in ("Numéro", "Date", "Échéance", "Objet", "Régie", "Montant", "Reste à payer"):
        assert re.search(rf'<th scope="col"( class="num")?>{header}</th>', html), header
    rows = rows_of(html)
    assert len(rows) == 2
    # Newest first: the 2026 invoice before the 2017 one.
    assert "A-PARTIAL" in rows[0] and "2017-020-002059" in rows[1]
    old = rows[1]
    for value in ("10/07/2017", "21/07/2017", money(24311), "Multi Services", "Restauration"):
        assert value in old
    assert "En retard" in old and "En retard" not in rows[0]
    assert money(7500) in rows[0]  # what is left of the partly paid invoice
    assert "A-PAID" not in html and "A-TREASURY" not in html
    # "Reste à payer": 243,11 € + 75,00 €.
    assert f"Reste à payer : <strong>{money(24311 + 7500)}</strong>" in html
    # Tab counts.
    assert re.search(r'id="tab-a-regler".*?\(2<span', html, flags=re.S)
    assert re.search(r'id="tab-reglee".*?\(1<span', html, flags=re.S)
    # The main menu still marks "Mes factures".
    assert '<a href="/boe/factures" aria-current="page">Mes factures</a>' in html


async def test_paid_tab_shows_settlement_date_mode_and_authorisation(portal: Portal) -> None:
    payer = await sign_in(portal)
    await add_invoice(
        "boe",
        payer,
        "P-ONLINE",
        status=PAID,
        paid=24311,
        paid_on=dt.date(2026, 2, 3),
        payment_mode="en_ligne",
        authorisation_number="AUT-778899",
    )
    await add_invoice(
        "boe",
        payer,
        "P-CHEQUE",
        status=PAID,
        amount=5000,
        paid=5000,
        paid_on=dt.date(2026, 2, 4),
        payment_mode="cheque",
        authorisation_number="CHQ-42",
    )
    await add_invoice("boe", payer, "P-TOPAY")

    html = (await portal.client.get("/boe/factures/reglees")).text
    assert "<title>Mes factures : réglées – Ville de Boé</title>" in html
    assert re.search(r'<a id="tab-reglee"[^>]*aria-current="page"', html)
    for header in ("Règlement", "PDF"):  # how, when and the reference in one cell (issue 9)
        assert f">{header}</th>" in html
    rows = rows_of(html)
    assert len(rows) == 2
    online = next(r for r in rows if "P-ONLINE" in r)
    cheque = next(r for r in rows if "P-CHEQUE" in r)
    assert "Réglé en ligne le <span" in online and "03/02/2026" in online
    assert "N°&nbsp;d’autorisation : " in online and "AUT-778899" in online
    assert money(24311) in online
    assert "Réglé par chèque le <span" in cheque and "04/02/2026" in cheque
    assert money(5000) in cheque
    assert "Référence : " in cheque and "CHQ-42" in cheque  # as the import gives it
    assert "P-TOPAY" not in html
    assert "En retard" not in html and "Reste à payer :" not in html


async def test_treasury_tab_explains_the_avis_des_sommes_a_payer(portal: Portal) -> None:
    payer = await sign_in(portal)
    await add_invoice("boe", payer, "T-1", status=TREASURY, due_on=dt.date(2025, 1, 1))
    await add_invoice("boe", payer, "T-TOPAY")
    html = (await portal.client.get("/boe/factures/tresorerie")).text
    assert re.search(r'<a id="tab-tresorerie"[^>]*aria-current="page"', html)
    assert "un avis des sommes à payer vous sera envoyé par courrier" in html.lower()
    assert "ne peuvent pas être payées sur ce portail" in html
    rows = rows_of(html)
    assert len(rows) == 1 and "T-1" in rows[0]
    assert "En retard" not in html  # the treasury collects it now


async def test_long_lists_paginate_newest_first(portal: Portal) -> None:
    payer = await sign_in(portal)
    start = dt.date(2025, 1, 1)
    for day in range(45):
        await add_invoice("boe", payer, f"N-{day:03d}", issued_on=start + dt.timedelta(days=day))

    first = (await portal.client.get("/boe/factures")).text
    numbers = re.findall(r"</span>(N-\d{3})</a>", first)
    assert numbers == [f"N-{day:03d}" for day in range(44, 24, -1)]  # 20, newest first
    assert "Page 1 sur 3" in first
    assert 'href="/boe/factures?page=2"' in first
    assert 'hx-get="/boe/factures?page=2" hx-target="#invoice-list"' in first
    assert "Page précédente" not in first

    second = (await portal.client.get("/boe/factures?page=2")).text
    assert re.findall(r"</span>(N-\d{3})</a>", second)[0] == "N-024"
    assert 'href="/boe/factures?page=1"' in second and 'href="/boe/factures?page=3"' in second

    last = (await portal.client.get("/boe/factures?page=3")).text
    assert re.findall(r"</span>(N-\d{3})</a>", last) == [f"N-{d:03d}" for d in range(4, -1, -1)]
    assert "Page suivante" not in last

    # Out of range or not a number: the nearest page, never an error.
    assert "Page 3 sur 3" in (await portal.client.get("/boe/factures?page=99")).text
    assert "Page 1 sur 3" in (await portal.client.get("/boe/factures?page=abc")).text
    assert "Page 1 sur 3" in (await portal.client.get("/boe/factures?page=-2")).text
    # htmx: the page's list only; after "Page suivante", focus goes to the new page's table.
    headers = {**HTMX_LIST, "hx-trigger": "page-next"}
    fragment = (await portal.client.get("/boe/factures?page=2", headers=headers)).text
    assert "<html" not in fragment and "Page 2 sur 3" in fragment
    assert re.search(r'<table class="invoice-table[^"]*" tabindex="-1" autofocus>', fragment)
    tab = (
        await portal.client.get(
            "/boe/factures", headers={**HTMX_LIST, "hx-trigger": "tab-a-regler"}
        )
    ).text
    assert "autofocus" not in tab and "autofocus" not in second
    # "Reste à payer" counts every page, not only the one shown.
    assert f"<strong>{money(45 * 24311)}</strong>" in first


async def test_empty_states(portal: Portal) -> None:
    payer = await sign_in(portal)
    for path in ("/boe/factures", "/boe/factures/reglees", "/boe/factures/tresorerie"):
        html = (await portal.client.get(path)).text
        assert "Vous n’avez encore aucune facture sur le portail." in html
        assert "<table" not in html
    assert "Reste à payer" not in (await portal.client.get("/boe/factures")).text

    await add_invoice("boe", payer, "ONLY-PAID", status=PAID, paid=24311)
    to_pay = (await portal.client.get("/boe/factures")).text
    assert "Vous n’avez aucune facture à régler." in to_pay
    assert f"Reste à payer : <strong>{money(0)}</strong>" in to_pay
    treasury = (await portal.client.get("/boe/factures/tresorerie")).text
    assert "Vous n’avez aucune facture en trésorerie." in treasury
    await add_invoice("boe", payer, "ONLY-TOPAY")
    paid = (await portal.client.get("/boe/factures/reglees")).text
    assert "ONLY-PAID" in paid and "aucune facture" not in paid
    # Only the paid tab empty.
    await Invoice.delete().where(Invoice.number == "ONLY-PAID")
    assert (
        "Vous n’avez encore aucune facture réglée."
        in (await portal.client.get("/boe/factures/reglees")).text
    )


async def test_tabs_answer_htmx_with_the_list_block_only(portal: Portal) -> None:
    payer = await sign_in(portal)
    await add_invoice("boe", payer, "H-PAID", status=PAID, paid=24311)

    full = await portal.client.get("/boe/factures/reglees")
    assert full.headers["vary"] == "HX-Request"
    assert full.text.lstrip().startswith("<!doctype html>")
    assert "<h1>Mes factures</h1>" in full.text and 'id="invoice-list"' in full.text

    fragment = await portal.client.get("/boe/factures/reglees", headers=HTMX_LIST)
    assert fragment.status_code == 200
    assert fragment.headers["vary"] == "HX-Request"
    text = fragment.text.strip()
    assert text.startswith("<title>Mes factures : réglées – Ville de Boé</title>")
    assert "<html" not in text and "<h1>" not in text and "Menu principal" not in text
    assert '<div id="invoice-list"' in text and "H-PAID" in text
    assert re.search(r'<a id="tab-reglee"[^>]*aria-current="page"', text)

    # The tab links: real URLs, enhanced by htmx (same target, pushed to the history).
    for path in ("/boe/factures", "/boe/factures/reglees", "/boe/factures/tresorerie"):
        assert re.search(
            rf'href="{path}"\s+hx-get="{path}" hx-target="#invoice-list" '
            r'hx-swap="outerHTML" hx-push-url="true"',
            full.text,
        ), path

    # A history restore, or an htmx request aimed elsewhere, gets the whole page.
    restore = await portal.client.get(
        "/boe/factures/reglees", headers={**HTMX_LIST, "hx-history-restore-request": "true"}
    )
    assert "<!doctype html>" in restore.text
    elsewhere = await portal.client.get(
        "/boe/factures/reglees", headers={"hx-request": "true", "hx-target": "contenu"}
    )
    assert "<!doctype html>" in elsewhere.text


# --- The detail ------------------------------------------------------------------------------


async def test_detail_page_and_fragment(portal: Portal) -> None:
    payer = await sign_in(portal)
    invoice_id = await add_invoice(
        "boe",
        payer,
        "2017-020-002059",
        issued_on=dt.date(2017, 7, 10),
        due_on=dt.date(2017, 7, 21),
        object="Multi Services",
        amount=24311,
        paid=1000,
    )
    url = f"/boe/factures/{invoice_id}"
    listing = (await portal.client.get("/boe/factures")).text
    assert f'href="{url}" hx-get="{url}" hx-target="#invoice-detail" hx-swap="outerHTML"' in listing
    assert '<div id="invoice-detail"></div>' in listing

    page = await portal.client.get(url)
    assert page.status_code == 200
    html = page.text
    assert "<title>Facture 2017-020-002059 – Ville de Boé</title>" in html
    assert "<h1>Mes factures</h1>" in html
    assert '<h2 id="invoice-detail-title" tabindex="-1">Facture n° 2017-020-002059</h2>' in html
    for fact in (
        "<dt>État</dt><dd>À régler</dd>",
        "<dt>Date</dt><dd>10/07/2017</dd>",
        "<dt>Objet</dt><dd>Multi Services</dd>",
        "<dt>Régie</dt><dd>Restauration scolaire</dd>",
        "<dt>Débiteur</dt><dd>Famille P1</dd>",
        f"<dt>Montant</dt><dd>{money(24311)}</dd>",
        f"<dt>Déjà réglé</dt><dd>{money(1000)}</dd>",
        f"<dt>Reste à payer</dt><dd><strong>{money(23311)}</strong></dd>",
    ):
        assert fact in html
    assert '21/07/2017 <strong class="badge badge--error">En retard</strong>' in html
    assert f'href="{url}/pdf">Télécharger le PDF</a>' in html
    assert 'href="/boe/factures">Retour à la liste des factures : à régler</a>' in html

    fragment = await portal.client.get(url, headers=HTMX_DETAIL)
    assert fragment.headers["vary"] == "HX-Request"
    text = fragment.text.strip()
    assert text.startswith('<section id="invoice-detail"')
    assert "<html" not in text and "<h1>" not in text and "Retour à la liste" not in text
    assert 'tabindex="-1" autofocus>Facture n° 2017-020-002059</h2>' in text
    assert f'href="{url}/pdf">Télécharger le PDF</a>' in text


async def test_detail_of_a_paid_invoice(portal: Portal) -> None:
    payer = await sign_in(portal)
    invoice_id = await add_invoice(
        "boe",
        payer,
        "D-PAID",
        status=PAID,
        paid=24311,
        paid_on=dt.date(2026, 2, 3),
        payment_mode="en_ligne",
        authorisation_number="AUT-1",
    )
    html = (await portal.client.get(f"/boe/factures/{invoice_id}")).text
    assert "<dt>État</dt><dd>Réglée</dd>" in html
    assert "<dt>Date de règlement</dt><dd>03/02/2026</dd>" in html
    assert "<dt>Mode de règlement</dt><dd>Paiement en ligne</dd>" in html
    assert "<dt>N°&nbsp;d’autorisation</dt><dd>AUT-1</dd>" in html
    assert "Reste à payer" not in html
    assert "Télécharger le PDF" in html
    assert "Payer en ligne (essai)" not in html  # nothing left to pay


async def test_treasury_invoice_detail_explains_it_cannot_be_paid_here(portal: Portal) -> None:
    payer = await sign_in(portal)
    invoice_id = await add_invoice("boe", payer, "D-TREASURY", status=TREASURY)
    html = (await portal.client.get(f"/boe/factures/{invoice_id}")).text
    assert "<dt>État</dt><dd>En trésorerie</dd>" in html
    assert "transmise au Trésor public" in html
    assert "Un avis des sommes à payer vous sera envoyé par courrier" in html
    assert "Elle ne peut pas être payée sur ce portail." in html
    assert "Télécharger le PDF" in html
    assert "Payer en ligne (essai)" not in html


# --- Hooks -----------------------------------------------------------------------------------


async def test_hook_invoice_actions(portal: Portal) -> None:
    payer = await sign_in(portal)
    plain = await add_invoice("boe", payer, "X-PLAIN")
    debit = await add_invoice(
        "boe", payer, "X-DEBIT", direct_debit=True, debit_on=dt.date(2026, 3, 5)
    )
    debit_undated = await add_invoice("boe", payer, "X-DEBIT-2", direct_debit=True)
    suspended = await add_invoice("boe", payer, "X-GARD", regie="GARD")

    async def detail(invoice_id: int) -> str:
        return (await portal.client.get(f"/boe/factures/{invoice_id}")).text

    html = await detail(plain)
    assert "Télécharger le PDF" in html
    assert f'href="/boe/payer/{plain}">Payer en ligne (essai)</a>' in html
    assert "prélèvement" not in html and "suspendu" not in html
    # Sorted by order: the PDF (20) before the payment (30).
    assert html.index("Télécharger le PDF") < html.index("Payer en ligne (essai)")

    html = await detail(debit)
    assert (
        '<p class="notice notice--info invoice-notice">Ma facture est en prélèvement automatique.'
        " Date du prélèvement : 05/03/2026.</p>"
    ) in html
    assert "Payer en ligne (essai)" not in html and "Télécharger le PDF" in html
    html = await detail(debit_undated)
    assert "Ma facture est en prélèvement automatique.</p>" in html

    html = await detail(suspended)
    assert "Le paiement a été temporairement suspendu." in html
    assert "Payer en ligne (essai)" not in html and "Télécharger le PDF" in html

    # The commune's InvoiceView reaches the hook with the account.
    commune = portal_commune(portal, "boe")
    row = await Account.select(Account.id).where(Account.email == CLAIRE).first()
    assert row is not None
    invoice = await services.get_invoice(commune.id, row["id"], plain)
    assert invoice is not None
    account = SignedIn(account_id=row["id"], email=CLAIRE, session_hash="", persistent=False)
    results = commune.hooks.invoice_actions(commune=commune, invoice=invoice, account=account)
    groups = [await g if inspect.isawaitable(g) else g for g in results]  # the core's is async
    labels = sorted(a.label for group in groups for a in group)
    # The core's own "Payer la facture" too: boé's régie has a numcli and PayFiP is enabled.
    assert labels == ["Payer en ligne (essai)", "Payer la facture", "Télécharger le PDF"]


async def test_hook_invoice_actions_prelevement_only_where_enabled(portal: Portal) -> None:
    payer = await sign_in(portal, "aure", "jean@example.org", ref="A1")
    invoice_id = await add_invoice(
        "aure", payer, "AURE-DEBIT", direct_debit=True, debit_on=dt.date(2026, 3, 5)
    )
    html = (await portal.client.get(f"/aure/factures/{invoice_id}")).text
    assert "prélèvement automatique" not in html
    assert "Télécharger le PDF" in html
    assert "Payer en ligne (essai)" in html  # Aure does not run the prelevement plugin


async def test_hook_invoice_actions_commune_suspension(
    clean_db: Engine, settings: Settings, mail_sink: MailSink
) -> None:
    app = create_app(settings, config=invoices_config(commune_suspended=True), extra_plugins=EXTRA)
    async with serve(app) as client:
        portal = Portal(client=client, sink=mail_sink, settings=settings)
        payer = await sign_in(portal)
        to_pay = await add_invoice("boe", payer, "S-1")
        paid = await add_invoice("boe", payer, "S-2", status=PAID, paid=24311)
        html = (await client.get(f"/boe/factures/{to_pay}")).text
        assert "Le paiement a été temporairement suspendu." in html
        assert "Payer en ligne (essai)" not in html
        # Nothing to pay: no notice about payment.
        assert "suspendu" not in (await client.get(f"/boe/factures/{paid}")).text


def portal_commune(portal: Portal, slug: str) -> Any:
    app = portal.client._transport.app  # type: ignore[attr-defined]
    return app.state.portal.communes[slug]


def view(**changes: Any) -> InvoiceView:
    base = InvoiceView(
        id=1,
        number="V-1",
        payment_reference="",
        object="",
        issued_on=dt.date(2026, 1, 10),
        due_on=None,
        amount_cents=24311,
        paid_cents=0,
        status=TO_PAY,
        paid_on=None,
        payment_mode="",
        authorisation_number="",
        direct_debit=False,
        debit_on=None,
        pdf_path="",
        regie_code="CANT",
        regie_name="Restauration scolaire",
        payer_name="Famille Martin",
    )
    return dataclasses.replace(base, **changes)


async def test_hook_invoice_is_payable(portal: Portal) -> None:
    boe, aure = portal_commune(portal, "boe"), portal_commune(portal, "aure")
    assert boe.hooks.invoice_is_payable(commune=boe, invoice=view()) is None
    assert is_payable(boe, view()) is True
    # prelevement (enabled for Boé only): a direct debit is never paid online.
    assert boe.hooks.invoice_is_payable(commune=boe, invoice=view(direct_debit=True)) is False
    assert is_payable(boe, view(direct_debit=True)) is False
    assert is_payable(aure, view(direct_debit=True, regie_code="PERI")) is True
    # core-invoices: suspended régie, nothing left to pay, not "à régler".
    assert is_payable(boe, view(regie_code="GARD")) is False
    assert is_payable(boe, view(paid_cents=24311)) is False
    assert is_payable(boe, view(status=PAID, paid_cents=24311)) is False
    assert is_payable(boe, view(status=TREASURY)) is False


# --- PDF -------------------------------------------------------------------------------------


async def test_imported_pdf_is_streamed_with_its_headers(
    portal: Portal, settings: Settings
) -> None:
    payer = await sign_in(portal)
    content = b"%PDF-1.4\n% the commune's own file\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    relative = "pdfs/1/2017-020-002059.pdf"
    target = Path(settings.data_dir) / relative
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    invoice_id = await add_invoice("boe", payer, "2017-020-002059", pdf_path=relative)

    response = await portal.client.get(f"/boe/factures/{invoice_id}/pdf")
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "application/pdf"
    assert (
        response.headers["content-disposition"]
        == 'attachment; filename="facture-2017-020-002059.pdf"'
    )
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_generated_pdf_when_the_commune_supplied_none(portal: Portal) -> None:
    payer = await sign_in(portal)
    invoice_id = await add_invoice(
        "boe", payer, "2017-020-002059", object="Multi Services – été", amount=124311
    )
    response = await portal.client.get(f"/boe/factures/{invoice_id}/pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert (
        response.headers["content-disposition"]
        == 'attachment; filename="facture-2017-020-002059.pdf"'
    )
    assert response.headers["cache-control"] == "private, no-store"
    body = response.content
    assert body.startswith(b"%PDF")
    assert b"2017-020-002059" in body
    assert "Ville de Boé".encode("cp1252") in body
    assert "1 243,11 €".encode("cp1252") in body  # Babel's no-break spaces made plain
    assert "Multi Services – été".encode("cp1252") in body
    assert "Reste à payer".encode("cp1252") in body
    assert b"/WinAnsiEncoding" in body


async def test_pdf_path_outside_the_data_dir_or_missing_is_replaced_by_a_generated_one(
    portal: Portal, settings: Settings, tmp_path: Path
) -> None:
    payer = await sign_in(portal)
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF-1.4 not yours")
    escaping = await add_invoice("boe", payer, "ESC-1", pdf_path="../secret.pdf")
    missing = await add_invoice("boe", payer, "MISS-1", pdf_path="pdfs/1/nothing.pdf")
    for invoice_id, number in ((escaping, b"ESC-1"), (missing, b"MISS-1")):
        body = (await portal.client.get(f"/boe/factures/{invoice_id}/pdf")).content
        assert body.startswith(b"%PDF") and number in body and b"not yours" not in body


async def test_download_name_is_safe() -> None:
    from core.invoices.pdf import download_name

    assert download_name("2017/020 002059") == "facture-2017-020-002059.pdf"
    assert download_name('a"b\r\nc') == "facture-a-b--c.pdf"
    assert download_name("") == "facture-sans-numero.pdf"


# --- Who sees what ---------------------------------------------------------------------------


async def test_invoices_of_another_payer_are_404(portal: Portal) -> None:
    mine = await sign_in(portal)
    other = await add_payer("boe", "P2", "Famille Durand", "durand@example.org")
    own = await add_invoice("boe", mine, "MINE-1")
    theirs = await add_invoice("boe", other, "THEIRS-1")
    theirs_paid = await add_invoice("boe", other, "THEIRS-2", status=PAID, paid=24311)

    listing = (await portal.client.get("/boe/factures")).text
    assert "MINE-1" in listing and "THEIRS" not in listing
    assert "THEIRS" not in (await portal.client.get("/boe/factures/reglees")).text
    assert f"<strong>{money(24311)}</strong>" in listing  # their invoices do not count
    assert (await portal.client.get(f"/boe/factures/{own}")).status_code == 200
    for invoice_id in (theirs, theirs_paid):
        for suffix in ("", "/pdf"):
            response = await portal.client.get(f"/boe/factures/{invoice_id}{suffix}")
            assert response.status_code == 404, suffix
            assert "THEIRS" not in response.text
        fragment = await portal.client.get(f"/boe/factures/{invoice_id}", headers=HTMX_DETAIL)
        assert fragment.status_code == 404


async def test_an_account_with_two_payers_sees_both(portal: Portal) -> None:
    first = await add_payer("boe", "P1", "Famille Martin", CLAIRE)
    second = await add_payer("boe", "P2", "Famille Martin-Durand", CLAIRE)
    await portal.activate("boe", CLAIRE)
    one = await add_invoice("boe", first, "TWO-1")
    two = await add_invoice("boe", second, "TWO-2")
    listing = (await portal.client.get("/boe/factures")).text
    assert "TWO-1" in listing and "TWO-2" in listing
    html = (await portal.client.get(f"/boe/factures/{two}")).text
    assert "<dt>Débiteur</dt><dd>Famille Martin-Durand</dd>" in html
    assert (await portal.client.get(f"/boe/factures/{one}/pdf")).status_code == 200


async def test_invoices_of_another_commune_are_404(portal: Portal) -> None:
    await sign_in(portal)
    aure_payer = await add_payer("aure", "P1", "Famille P1", CLAIRE)  # same address, elsewhere
    aure_invoice = await add_invoice("aure", aure_payer, "AURE-1")
    assert "AURE-1" not in (await portal.client.get("/boe/factures")).text
    for suffix in ("", "/pdf"):
        response = await portal.client.get(f"/boe/factures/{aure_invoice}{suffix}")
        assert response.status_code == 404
    # Boé's session is not valid at Aure either: the Aure pages ask for a login.
    response = await portal.client.get(f"/aure/factures/{aure_invoice}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/aure/connexion"


async def test_unknown_invoices_are_404(portal: Portal) -> None:
    await sign_in(portal)
    for path in (
        "/boe/factures/999999",
        "/boe/factures/999999/pdf",
        "/boe/factures/abc",
        "/boe/factures/0",
        "/boe/factures/99999999999999999999",
        "/boe/factures/99999999999999999999/pdf",
        "/nulle-part/factures",
    ):
        assert (await portal.client.get(path)).status_code == 404, path


async def test_logged_out_parents_are_sent_to_the_login(portal: Portal) -> None:
    payer = await add_payer("boe", "P1", "Famille Martin", CLAIRE)
    invoice_id = await add_invoice("boe", payer, "OUT-1")
    for path in (
        "/boe/factures",
        "/boe/factures/reglees",
        "/boe/factures/tresorerie",
        f"/boe/factures/{invoice_id}",
        f"/boe/factures/{invoice_id}/pdf",
    ):
        response = await portal.client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/boe/connexion"
        assert "OUT-1" not in response.text
    # htmx requests are redirected by htmx itself.
    response = await portal.client.get("/boe/factures/reglees", headers=HTMX_LIST)
    assert response.headers.get("hx-redirect") == "/boe/connexion"


async def test_every_view_carries_every_field(portal: Portal) -> None:
    """Views are built without the dataclass's `__init__` (`services._view`, for speed):
    each way of reading them must still give every field, with the same values as `__init__`
    would keep."""
    payer = await sign_in(portal)
    to_pay = await add_invoice("boe", payer, "F-TO-PAY", due_on=dt.date(2017, 7, 21))
    await add_invoice("boe", payer, "F-PAID", status=PAID, paid=24311)
    account = await Account.select(Account.id, Account.commune).first()
    assert account is not None
    commune, account_id = account["commune"], account["id"]
    views = [
        *(await services.list_invoices(commune, account_id, TO_PAY)).rows,
        *(await services.list_invoices(commune, account_id, PAID)).rows,
        *await services.get_invoices(commune, account_id, status=TO_PAY),
    ]
    one = await services.get_invoice(commune, account_id, to_pay)
    assert one is not None
    views.append(one)
    names = {f.name for f in dataclasses.fields(InvoiceView)}
    for view in views:
        assert set(vars(view)) == names
        assert view == InvoiceView(**vars(view))
        with pytest.raises(dataclasses.FrozenInstanceError):
            view.status = PAID  # type: ignore[misc]
    assert [v.overdue for v in views] == [True, False, True, True]
