"""Online payment against the PayFiP/TIPI simulator, on a real loopback port.

The portal talks SOAP to the simulator over HTTP; the simulator's notifications come back into
the app under test (`asgi_notifier`). Boé pays through PayFiP (test mode, basket allowed) with
two régies; Aure through TIPI (one invoice at a time). Tests named `test_hook_<name>` are
required by `tests/unit/test_docs.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from litestar import Litestar

from core.app import create_app
from core.config import ConfigError, parse_config
from core.db import Engine, as_aware
from core.hookspecs import PaymentOutcome
from core.invoices.tables import PAID, TO_PAY, TREASURY, Invoice
from core.mail.mailer import Mailer
from core.mail.sink import MailSink
from core.mail.tables import OutboundEmail
from core.payments import attempts, checks, service_routes, settlement
from core.payments.providers import provider_for_regie, providers
from core.payments.tables import PaymentAttempt, PaymentAttemptInvoice
from core.plugins import collect_plugin_settings, get_plugin_manager
from core.security import throttle
from core.settings import Settings
from plugins.payfip.provider import PayfipProvider
from simulators.payfip import RunningSimulator, asgi_notifier, running_simulator
from tests.integration.conftest import (
    CONFIG,
    Portal,
    SecurityLog,
    add_invoice,
    add_payer,
    serve,
    sign_in,
)
from tests.plugins.counter_payment import CounterPlugin, CounterSettings

CLAIRE = "claire@example.org"
JEAN = "jean@example.org"
IDOP_IN_LOCATION = re.compile(r"[?&]idop=([0-9a-f-]{36})")


def payment_config(sim: RunningSimulator, *, saisie: str = "T") -> Any:
    raw = copy.deepcopy(CONFIG)
    boe, aure = raw["communes"]
    boe["payment_basket"] = True
    boe["regies"] = [
        {"code": "CANT", "name": "Cantine", "client_number": "004200"},
        {"code": "GARD", "name": "Garderie", "client_number": "004201"},
        {"code": "CRECHE", "name": "Crèche"},  # no numcli: not paid online
    ]
    boe["plugins"] = {
        "payfip": {
            "saisie": saisie,
            "saisie_by_regie": {"GARD": "X"},  # the garderie is being validated with the DGFiP
            "web_service_url": sim.soap_url,
            "payment_url": sim.payment_url,
        },
        "prelevement": {},
    }
    aure["regies"] = [{"code": "PERI", "name": "Périscolaire", "client_number": "005500"}]
    aure["plugins"] = {"tipi_legacy": {"saisie": "T", "payment_url": sim.tipi_url}}
    return parse_config(raw)


@dataclasses.dataclass
class Payments:
    """The portal under test, the simulator it pays through, and the helpers of a payment."""

    portal: Portal
    sim: RunningSimulator
    app: Litestar

    @property
    def client(self) -> httpx.AsyncClient:
        return self.portal.client

    def commune(self, slug: str = "boe") -> Any:
        return self.app.state.portal.communes[slug]

    @property
    def mailer(self) -> Mailer:
        portal = self.app.state.portal
        return Mailer(env=portal.env, base_url=portal.settings.base_url)

    async def start(self, *invoice_ids: int, slug: str = "boe") -> httpx.Response:
        """Open the summary of `invoice_ids`, then press "Payer"."""
        query = "&".join(f"facture={i}" for i in invoice_ids)
        summary = f"/{slug}/paiement?{query}"
        token = await self.portal.csrf(summary)
        return await self.client.post(
            f"/{slug}/paiement",
            data={"facture": [str(i) for i in invoice_ids], "_csrf_token": token},
            follow_redirects=False,
        )

    async def start_payfip(self, *invoice_ids: int) -> str:
        """Start a PayFiP payment; the idop the browser is sent with."""
        response = await self.start(*invoice_ids)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith(self.sim.payment_url + "?idop=")
        match = IDOP_IN_LOCATION.search(location)
        assert match
        return match.group(1)

    async def attempt(self, idop: str) -> dict[str, Any]:
        row = await PaymentAttempt.select().where(PaymentAttempt.provider_reference == idop).first()
        assert row is not None
        return row

    async def invoice(self, invoice_id: int) -> dict[str, Any]:
        row = await Invoice.select().where(Invoice.id == invoice_id).first()
        assert row is not None
        return row

    async def detail(self, invoice_id: int, slug: str = "boe") -> str:
        response = await self.client.get(f"/{slug}/factures/{invoice_id}")
        assert response.status_code == 200
        return response.text


@contextlib.asynccontextmanager
async def paying(
    settings: Settings, sim: RunningSimulator, sink: MailSink, **options: Any
) -> AsyncIterator[Payments]:
    settings = dataclasses.replace(settings, payment_recheck_interval=0)
    app = create_app(settings, config=payment_config(sim, **options))
    sim.state.notify = asgi_notifier(app)
    sink.clear()
    async with serve(app) as client:
        yield Payments(Portal(client=client, sink=sink, settings=settings), sim, app)


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    async with running_simulator() as sim:
        yield sim


@pytest.fixture
async def pay(
    clean_db: Engine, settings: Settings, simulator: RunningSimulator, mail_sink: MailSink
) -> AsyncIterator[Payments]:
    async with paying(settings, simulator, mail_sink) as payments:
        yield payments


async def claire_with_invoices(
    pay: Payments, *amounts: int, regie: str = "CANT", **fields: Any
) -> list[int]:
    payer = await sign_in(pay.portal, "boe", CLAIRE)
    return [
        await add_invoice("boe", payer, f"{regie}-{i + 1}", regie=regie, amount=amount, **fields)
        for i, amount in enumerate(amounts)
    ]


# --- The providers -------------------------------------------------------------------------


async def test_hook_payment_providers(pay: Payments) -> None:
    boe, aure = pay.commune("boe"), pay.commune("aure")
    assert set(providers(boe)) == {"payfip"}
    assert set(providers(aure)) == {"tipi_legacy"}
    payfip = provider_for_regie(boe, "CANT")
    assert payfip is not None and payfip.verifies_results
    assert payfip.form_origins == (pay.sim.base_url,)
    assert provider_for_regie(boe, "CRECHE") is None  # no client number
    tipi = provider_for_regie(aure, "PERI")
    assert tipi is not None and not tipi.verifies_results
    # Straight from the service: an unknown idop is P1, which means "expired".
    outcome = await payfip.fetch_outcome("00000000-0000-0000-0000-000000000000")
    assert outcome == PaymentOutcome(result="expired", code="P1", verified=True)


async def test_payment_services_are_asked_of_the_plugins_once_per_commune(
    pay: Payments, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built from the configuration alone (`payment_providers`), the services are kept with the
    commune's context: serving invoices, whose detail offers "Payer la facture" on every
    request, asks the plugins at most once."""
    [invoice] = await claire_with_invoices(pay, 24311)
    boe = pay.commune("boe")
    asked: list[str] = []
    hook = boe.hooks.payment_providers

    def counting(**kwargs: Any) -> Any:
        asked.append(kwargs["commune"].slug)
        return hook(**kwargs)

    monkeypatch.setattr(boe.hooks, "payment_providers", counting)
    for _ in range(3):
        detail = await pay.client.get(f"/boe/factures/{invoice}")
        assert "Payer la facture" in detail.text
        assert (await pay.client.get("/boe/factures")).status_code == 200
    assert asked in ([], ["boe"])  # at the first request, if the start-up had not asked
    assert set(providers(boe)) == {"payfip"}
    before = len(asked)
    fresh = dataclasses.replace(boe)  # a new configuration's context asks again, once
    assert set(providers(fresh)) == {"payfip"}
    assert set(providers(fresh)) == {"payfip"}  # the second time from what was kept
    assert len(asked) == before + 1


def counter_config(sim: RunningSimulator) -> tuple[dict[str, Any], dict[str, type]]:
    """Boé with a second service, the counter (`tests.plugins.counter_payment`), paying the
    garderie; the canteen still pays through PayFiP. (The raw configuration, and the plugins'
    settings types.)"""
    raw = msgspec.to_builtins(payment_config(sim))
    boe = raw["communes"][0]
    boe["plugins"]["counter"] = {}
    boe["regies"][0]["payment_provider"] = "payfip"
    boe["regies"][1]["payment_provider"] = "counter"
    known = {**collect_plugin_settings(get_plugin_manager()), "counter": CounterSettings}
    return raw, known


@contextlib.asynccontextmanager
async def paying_at_the_counter(
    settings: Settings, sim: RunningSimulator, sink: MailSink, plugin: CounterPlugin
) -> AsyncIterator[Payments]:
    raw, known = counter_config(sim)
    app = create_app(
        dataclasses.replace(settings, payment_recheck_interval=0),
        config=parse_config(raw, known),
        extra_plugins=[("counter", plugin)],
    )
    async with serve(app) as client:
        yield Payments(Portal(client=client, sink=sink, settings=settings), sim, app)


async def test_a_further_provider_is_one_more_plugin(
    clean_db: Engine, settings: Settings, simulator: RunningSimulator, mail_sink: MailSink
) -> None:
    plugin = CounterPlugin()
    raw, known = counter_config(simulator)
    boe = raw["communes"][0]
    async with paying_at_the_counter(settings, simulator, mail_sink, plugin) as pay:
        payer = await sign_in(pay.portal, "boe", CLAIRE)
        cant = await add_invoice("boe", payer, "CANT-1", regie="CANT", amount=1000)
        gard = await add_invoice("boe", payer, "GARD-1", regie="GARD", amount=2500)
        assert (await pay.start_payfip(cant)) in pay.sim.state.operations  # still PayFiP
        response = await pay.start(gard)
        assert response.status_code == 303
        reference = response.headers["location"].rsplit("/", 1)[1]
        assert reference in plugin.provider.started
        commune = pay.commune()
        attempt = await attempts.find_by_provider_reference(commune.id, "counter", reference)
        assert attempt is not None
        assert await checks.refresh(commune, attempt, pay.mailer, min_interval=0) == "paid"
        row = await pay.invoice(gard)
        assert (row["status"], row["authorisation_number"]) == (PAID, "GUICHET-1")

    # With two services and a régie naming neither, the portal refuses to start, as
    # `portail check-config` refuses the file.
    del boe["regies"][1]["payment_provider"]
    with pytest.raises(ConfigError, match=r"regies\[GARD\]\.payment_provider: several"):
        create_app(settings, config=parse_config(raw, known), extra_plugins=[("counter", plugin)])


async def test_a_further_provider_comes_back_through_the_core_routes(
    clean_db: Engine, settings: Settings, simulator: RunningSimulator, mail_sink: MailSink
) -> None:
    plugin = CounterPlugin()  # no route of its own: it only reads what comes back
    async with paying_at_the_counter(settings, simulator, mail_sink, plugin) as pay:
        payer = await sign_in(pay.portal, "boe", CLAIRE)
        first = await add_invoice("boe", payer, "GARD-1", regie="GARD", amount=2500)
        second = await add_invoice("boe", payer, "GARD-2", regie="GARD", amount=1500)
        third = await add_invoice("boe", payer, "GARD-3", regie="GARD", amount=1200)
        reference = (await pay.start(first)).headers["location"].rsplit("/", 1)[1]
        request = plugin.provider.started[reference]
        assert request.notification_url == "http://portail.test/boe/paiement/counter/notification"
        assert request.return_url == "http://portail.test/boe/paiement/counter/retour"

        # Its server's notification: no CSRF token, no session; the core asks the service.
        service = httpx.AsyncClient(transport=httpx.ASGITransport(app=pay.app), base_url="http://x")
        async with service:
            unknown = await service.post("/boe/paiement/counter/notification", data={"ref": "G0"})
            assert (unknown.status_code, unknown.content) == (200, b"")
            assert (await pay.invoice(first))["status"] == TO_PAY
            notified = await service.post(
                "/boe/paiement/counter/notification", data={"ref": reference}
            )
            assert (notified.status_code, notified.content) == (200, b"")
            # Where the commune does not offer it, the route does not exist.
            elsewhere = await service.post(
                "/aure/paiement/counter/notification", data={"ref": reference}
            )
            assert elsewhere.status_code == 404
        row = await pay.invoice(first)
        assert (row["status"], row["authorisation_number"]) == (PAID, "GUICHET-1")
        await pay.portal.mail_to(CLAIRE, "Reçu")

        # The browser's return: to the result page (or to "Mes paiements" when it names none).
        reference = (await pay.start(second)).headers["location"].rsplit("/", 1)[1]
        refdet = plugin.provider.started[reference].refdet
        back = await pay.client.get(
            f"/boe/paiement/counter/retour?ref={reference}", follow_redirects=False
        )
        assert (back.status_code, back.headers["location"]) == (303, f"/boe/paiement/{refdet}")
        assert (await pay.invoice(second))["status"] == PAID
        nowhere = await pay.client.post("/boe/paiement/counter/retour", follow_redirects=False)
        assert nowhere.headers["location"] == "/boe/paiements"

        # A return that brings its own result is never settled from it, "verified" or not.
        reference = (await pay.start(third)).headers["location"].rsplit("/", 1)[1]
        refdet = plugin.provider.started[reference].refdet
        claimed = await pay.client.get(
            f"/boe/paiement/counter/retour?refdet={refdet}&resultat=P", follow_redirects=False
        )
        assert claimed.headers["location"] == f"/boe/paiement/{refdet}"
        attempt = await attempts.get_attempt(pay.commune().id, refdet)
        assert attempt is not None and attempt.state == "declared"
        assert (await pay.invoice(third))["status"] == TO_PAY


async def test_the_addresses_given_before_the_core_routes_still_answer(pay: Payments) -> None:
    """A payment started before an upgrade notifies and returns where it was told to:
    `/<commune>/payfip/notification`, `/<commune>/payfip/retour`, `/<commune>/tipi/retour`."""
    first, second = await claire_with_invoices(pay, 1000, 2000)
    idop = await pay.start_payfip(first)
    operation = pay.sim.state.operations[idop]
    assert operation.urlnotif == "http://portail.test/boe/paiement/payfip/notification"
    assert operation.urlredirect == "http://portail.test/boe/paiement/payfip/retour"
    pay.sim.state.set_result(idop, "P")
    service = httpx.AsyncClient(transport=httpx.ASGITransport(app=pay.app), base_url="http://x")
    async with service:
        notified = await service.post("/boe/payfip/notification", data={"idop": idop})
    assert (notified.status_code, notified.content) == (200, b"")
    assert (await pay.invoice(first))["status"] == PAID

    idop = await pay.start_payfip(second)
    refdet = (await pay.attempt(idop))["refdet"]
    pay.sim.state.set_result(idop, "P")
    back = await pay.client.post("/boe/payfip/retour", data={"idop": idop}, follow_redirects=False)
    assert (back.status_code, back.headers["location"]) == (303, f"/boe/paiement/{refdet}")
    assert (await pay.invoice(second))["status"] == PAID

    payer = await sign_in(pay.portal, "aure", JEAN, ref="A1")
    invoice_id = await add_invoice("aure", payer, "PERI-1", amount=10522)
    sent = await tipi_start(pay, invoice_id)
    back_fields = {k: sent[k] for k in ("numcli", "exer", "refdet", "montant", "saisie")}
    back = await pay.client.post(
        "/aure/tipi/retour", data={**back_fields, "resultrans": "P"}, follow_redirects=False
    )
    assert back.headers["location"] == f"/aure/paiement/{sent['refdet']}"
    attempt = await attempts.get_attempt(pay.commune("aure").id, sent["refdet"])
    assert attempt is not None and attempt.state == "declared"

    # Each answers only where its service is enabled.
    assert (await pay.client.get(f"/aure/payfip/retour?idop={idop}")).status_code == 404
    assert (await pay.client.get("/boe/tipi/retour")).status_code == 404
    assert (await pay.client.get("/boe/paiement/tipi_legacy/retour")).status_code == 404
    assert (await pay.client.get("/boe/paiement/inconnu/retour")).status_code == 404


def test_only_the_services_routes_skip_csrf(pay: Payments) -> None:
    exempt = {
        (route.path, method)
        for route in pay.app.routes
        for handler in getattr(route, "route_handlers", ())
        if handler.opt.get("exclude_from_csrf")
        for method in handler.http_methods
        if method != "HEAD"
    }
    assert exempt == {
        ("/{slug:str}/paiement/{provider:str}/notification", "POST"),
        ("/{slug:str}/paiement/{provider:str}/retour", "GET"),
        ("/{slug:str}/paiement/{provider:str}/retour", "POST"),
        ("/{slug:str}/payfip/notification", "POST"),
        ("/{slug:str}/payfip/retour", "GET"),
        ("/{slug:str}/payfip/retour", "POST"),
        ("/{slug:str}/tipi/retour", "GET"),
        ("/{slug:str}/tipi/retour", "POST"),
        ("/{slug:str}/api/imports", "POST"),  # the import API: a key, no cookie
        # RFC 8058 one-click unsubscribe, authorised by its signed token
        ("/{slug:str}/actualites/desabonnement/{account_id:int}/{key:str}", "POST"),
    }


# --- One invoice, by card ------------------------------------------------------------------


async def test_pay_one_invoice_by_card(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 24311)
    html = await pay.detail(invoice_id)
    assert f'href="/boe/paiement/selection?facture={invoice_id}">Payer la facture</a>' in html

    summary = await pay.client.get(f"/boe/paiement?facture={invoice_id}")
    assert summary.status_code == 200
    for text in ("Identifiant collectivité", "004200", "243,11\xa0€", "CANT-1", CLAIRE):
        assert text in summary.text
    # The form leads to the service: the page's CSP must allow it.
    assert f"form-action 'self' {pay.sim.base_url}" in summary.headers["content-security-policy"]

    idop = await pay.start_payfip(invoice_id)
    attempt = await pay.attempt(idop)
    assert attempt["state"] == "pending" and attempt["amount_cents"] == 24311
    assert re.fullmatch(r"[A-Z0-9]{20}", attempt["refdet"])
    operation = pay.sim.state.operations[idop]
    assert (operation.numcli, operation.montant, operation.refdet, operation.saisie) == (
        "004200",
        "24311",
        attempt["refdet"],
        "T",
    )
    # While the parent is at the service, the invoice cannot be paid again.
    html = await pay.detail(invoice_id)
    assert "en cours de traitement" in html and "Payer la facture" not in html
    result = await pay.client.get(f"/boe/paiement/{attempt['refdet']}")
    assert (
        "Paiement en cours de traitement" in result.text and 'hx-trigger="every 2s"' in result.text
    )

    await pay.sim.state.complete(idop, "P")  # the page's "card accepted", with its notification

    row = await pay.invoice(invoice_id)
    assert row["status"] == PAID and row["paid_cents"] == 24311
    assert row["payment_mode"] == "en_ligne"
    assert row["authorisation_number"] == operation.numauto
    assert row["paid_on"] is not None

    mail = await pay.portal.mail_to(CLAIRE, "Reçu")
    for text in (
        "Ville de Boé",
        "Cantine",
        "CANT-1",
        "243,11",
        attempt["refdet"],
        operation.numauto,
    ):
        assert text in mail.text, text
    assert "carte bancaire" in mail.text

    # The browser comes back (GET): to the result page, now final, with the receipt.
    back = await pay.client.get(f"/boe/payfip/retour?idop={idop}", follow_redirects=False)
    assert back.status_code == 303
    assert back.headers["location"] == f"/boe/paiement/{attempt['refdet']}"
    result = await pay.client.get(back.headers["location"])
    assert "Paiement accepté" in result.text and "every 2s" not in result.text
    assert operation.numauto in result.text
    receipt = await pay.client.get(f"/boe/paiement/{attempt['refdet']}/recu.pdf")
    assert receipt.content.startswith(b"%PDF") and attempt["refdet"].encode() in receipt.content

    paid_tab = await pay.client.get("/boe/factures/reglees")
    assert "CANT-1" in paid_tab.text and "Réglé en ligne par carte le" in paid_tab.text
    # The payment's reference and its receipt, in the invoice's row.
    assert f'Référence : <span class="reference">{attempt["refdet"]}</span>' in paid_tab.text
    assert f'href="/boe/paiement/{attempt["refdet"]}"' in paid_tab.text
    history = await pay.client.get("/boe/paiements")
    assert "CANT-1" in history.text and "Paiement accepté" in history.text


async def test_the_result_page_polls_quietly_until_the_result_changes(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 1000)
    idop = await pay.start_payfip(invoice_id)
    refdet = (await pay.attempt(idop))["refdet"]
    poll = {"hx-request": "true", "hx-target": "payment-status"}
    url = f"/boe/paiement/{refdet}?etat=pending"
    unchanged = await pay.client.get(url, headers=poll)
    assert unchanged.status_code == 204  # nothing to swap, nothing re-announced
    pay.sim.state.notifications = "lose"
    await pay.sim.state.complete(idop, "A")
    await asyncio.sleep(checks.MIN_SECONDS_BETWEEN_CHECKS)
    changed = await pay.client.get(url, headers=poll)
    assert changed.status_code == 200
    assert "Paiement abandonné" in changed.text and "<html" not in changed.text


# --- Several invoices at once --------------------------------------------------------------


async def test_a_basket_of_two_invoices_is_one_payment(pay: Payments) -> None:
    first, second = await claire_with_invoices(pay, 1500, 2550)
    selection = await pay.client.get(f"/boe/paiement/selection?facture={first}")
    assert f'value="{first}" id="pay-{first}" checked' in selection.text
    assert f'value="{second}" id="pay-{second}">' in selection.text
    summary = await pay.client.get(
        f"/boe/paiement/selection/resume?regie=CANT&facture={first}&facture={second}",
        headers={"hx-request": "true"},
    )
    assert 'Nombre de factures : <span class="basket__count">2</span>' in summary.text
    assert "40,50\xa0€" in summary.text
    # The fragment replaces the page's summary: same id in both, or the next swap finds nothing.
    assert 'id="basket-summary-CANT"' in selection.text
    assert 'id="basket-summary-CANT"' in summary.text

    idop = await pay.start_payfip(first, second)
    assert pay.sim.state.operations[idop].montant == "4050"
    await pay.sim.state.complete(idop, "V")  # prélèvement

    for invoice_id, amount in ((first, 1500), (second, 2550)):
        row = await pay.invoice(invoice_id)
        assert (row["status"], row["paid_cents"]) == (PAID, amount)
    mail = await pay.portal.mail_to(CLAIRE, "Reçu")
    assert "CANT-1" in mail.text and "CANT-2" in mail.text and "prélèvement" in mail.text
    refdet = (await pay.attempt(idop))["refdet"]
    result = await pay.client.get(f"/boe/paiement/{refdet}")
    assert "paiement par prélèvement" in result.text


def _group_order(html: str) -> list[str]:
    """The selection page's régies, in reading order."""
    return re.findall(r'<h2 id="basket-title-\d+">([^<]+)</h2>', html)


async def test_the_group_of_the_ticked_invoice_comes_first(pay: Payments) -> None:
    payer = await sign_in(pay.portal, "boe", CLAIRE)
    cant = await add_invoice("boe", payer, "CANT-1", regie="CANT", amount=1000)
    gard = await add_invoice("boe", payer, "GARD-1", regie="GARD", amount=1000)
    usual = _group_order((await pay.client.get("/boe/paiement/selection")).text)
    assert sorted(usual) == ["Cantine", "Garderie"]
    for ticked, code in ((cant, "Cantine"), (gard, "Garderie")):
        selection = await pay.client.get(f"/boe/paiement/selection?facture={ticked}")
        order = _group_order(selection.text)
        assert order[0] == code, order
        assert order[1:] == [other for other in usual if other != code]
        # Its "Continuer" is the page's first: the first form is the ticked group's.
        first_form = selection.text.split('<form method="get"', 2)[1]
        assert f'value="{ticked}" id="pay-{ticked}" checked' in first_form
        assert first_form.index(f"pay-{ticked}") < first_form.index("Continuer vers le paiement")


async def test_continuing_with_nothing_ticked_names_the_regie(pay: Payments) -> None:
    payer = await sign_in(pay.portal, "boe", CLAIRE)
    cant = await add_invoice("boe", payer, "CANT-1", regie="CANT", amount=1000)
    await add_invoice("boe", payer, "GARD-1", regie="GARD", amount=1000)
    response = await pay.client.get("/boe/paiement?regie=GARD")
    assert response.status_code == 422
    html = response.text
    message = "Sélectionnez au moins une facture de la régie « Garderie » à payer."
    assert "<title>Erreur – Payer plusieurs factures" in html
    # The error first, linked to its group, which comes first and says it again; the group's
    # boxes are described by it.
    assert f'role="alert">\n  <p><a href="#basket-GARD">{message}</a>' in html
    assert _group_order(html)[0] == "Garderie"
    assert f'<p class="field__error" id="basket-GARD-error">{message}</p>' in html
    assert html.count('aria-describedby="basket-GARD-error"') == 1  # the one garderie box
    assert f'id="pay-{cant}">' in html  # the canteen's box, unticked and undescribed
    assert not await PaymentAttempt.count()
    # A régie the parent has nothing to pay for: the general message, as before.
    unknown = await pay.client.get("/boe/paiement?regie=NOPE")
    assert unknown.status_code == 409
    assert "Sélectionnez au moins une facture à payer." in unknown.text


async def test_what_cannot_be_paid_together_says_why(pay: Payments) -> None:
    payer = await sign_in(pay.portal, "boe", CLAIRE)
    cant = await add_invoice("boe", payer, "CANT-1", regie="CANT", amount=1000)
    gard = await add_invoice("boe", payer, "GARD-1", regie="GARD", amount=1000)
    debit = await add_invoice("boe", payer, "DEBIT-1", amount=1000, direct_debit=True)
    treasury = await add_invoice("boe", payer, "TRES-1", amount=1000, status=TREASURY)
    paid = await add_invoice("boe", payer, "PAID-1", amount=1000, paid=1000, status=PAID)
    cheap = await add_invoice("boe", payer, "CHEAP-1", amount=50)
    creche = await add_invoice("boe", payer, "CRECHE-1", regie="CRECHE", amount=1000)
    other = await add_payer("boe", "P2", "Famille Durand", "durand@example.org")
    theirs = await add_invoice("boe", other, "THEIRS-1", amount=1000)

    async def refused(*ids: int) -> str:
        response = await pay.start(*ids)
        assert response.status_code == 409, response.text
        assert not await PaymentAttempt.count()
        return response.text

    assert "même régie" in await refused(cant, gard)
    assert "prélèvement automatique" in await refused(debit)
    assert "Trésor public" in await refused(treasury)
    assert "déjà réglée" in await refused(paid)
    assert "1,00" in await refused(cheap)
    assert "pas payable en ligne" in await refused(creche)
    assert "ne vous est pas adressée" in await refused(theirs)
    assert "au moins une facture" in await refused()

    selection = await pay.client.get("/boe/paiement/selection")
    assert f'id="pay-{cant}"' in selection.text and f'id="pay-{gard}"' in selection.text
    assert f'id="pay-{debit}"' not in selection.text  # shown, with its reason, not selectable
    assert "Ma facture est en prélèvement automatique" in selection.text
    assert "THEIRS-1" not in selection.text and "TRES-1" not in selection.text


async def test_pay_several_is_offered_only_when_an_invoice_can_be_paid_online(
    pay: Payments,
) -> None:
    payer = await sign_in(pay.portal, "boe", CLAIRE)
    await add_invoice("boe", payer, "DEBIT-1", amount=1000, direct_debit=True)
    await add_invoice("boe", payer, "CRECHE-1", regie="CRECHE", amount=1000)  # no service
    held = await add_invoice("boe", payer, "CANT-1", amount=1000)
    await pay.start_payfip(held)  # an online payment holds it now
    html = (await pay.client.get("/boe/factures")).text
    assert "DEBIT-1" in html and "CRECHE-1" in html and "CANT-1" in html
    assert "Payer plusieurs factures" not in html
    # The basket agrees: nothing it would let the parent tick.
    assert 'name="facture"' not in (await pay.client.get("/boe/paiement/selection")).text

    payable = await add_invoice("boe", payer, "CANT-2", amount=1000)
    html = (await pay.client.get("/boe/factures")).text
    assert html.count("Payer plusieurs factures") == 1
    assert (
        f'name="facture" value="{payable}"'
        in (await pay.client.get("/boe/paiement/selection")).text
    )


async def test_a_regie_can_have_its_own_saisie(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 2000, regie="GARD")
    idop = await pay.start_payfip(invoice_id)
    assert pay.sim.state.operations[idop].saisie == "X"
    await pay.sim.state.complete(idop, "P")
    assert (await pay.attempt(idop))["state"] == "paid"


async def test_a_commune_without_basket_pays_one_invoice_at_a_time(pay: Payments) -> None:
    payer = await sign_in(pay.portal, "aure", JEAN, ref="A1")
    first = await add_invoice("aure", payer, "PERI-1", amount=1000)
    second = await add_invoice("aure", payer, "PERI-2", amount=1000)
    html = await pay.detail(first, "aure")
    assert f'href="/aure/paiement?facture={first}">Payer la facture</a>' in html
    response = await pay.start(first, second, slug="aure")
    assert response.status_code == 409 and "une par une" in response.text
    selection = await pay.client.get("/aure/paiement/selection", follow_redirects=False)
    assert selection.status_code == 303


# --- What the portal believes, and what it does not ----------------------------------------


async def test_a_forged_notification_changes_nothing(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 1000)
    idop = await pay.start_payfip(invoice_id)
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=pay.app), base_url="http://x")
    async with anonymous:
        for body in (
            {"idop": "b008a85d-9dc9-49a1-a68d-473c4f76f958"},  # not ours
            {"idop": idop},  # ours, but the service says P5
            {"idOp": idop, "resultrans": "P", "montant": "1000"},  # parameters are not read
            {},
        ):
            response = await anonymous.post("/boe/payfip/notification", data=body)
            assert response.status_code == 200 and response.content == b""
    assert (await pay.attempt(idop))["state"] == "pending"
    assert (await pay.invoice(invoice_id))["status"] == TO_PAY
    # Where PayFiP is off, there is no notification endpoint.
    assert (
        await pay.client.post("/aure/payfip/notification", data={"idop": idop})
    ).status_code == 404


async def test_a_wrong_amount_is_flagged_not_settled(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 5000)
    idop = await pay.start_payfip(invoice_id)
    pay.sim.state.operations[idop].montant = "500"  # the service says another amount
    await pay.sim.state.complete(idop, "P")
    attempt = await pay.attempt(idop)
    assert attempt["state"] == "review" and "montant" in attempt["note"]
    assert (await pay.invoice(invoice_id))["status"] == TO_PAY
    html = await pay.detail(invoice_id)
    assert "vérification" in html and "Payer la facture" not in html
    assert not await OutboundEmail.count().where(OutboundEmail.subject.like("Reçu%"))


async def test_a_test_result_never_settles_a_production_payment(
    clean_db: Engine, settings: Settings, simulator: RunningSimulator, mail_sink: MailSink
) -> None:
    async with paying(settings, simulator, mail_sink, saisie="W") as pay:
        (invoice_id,) = await claire_with_invoices(pay, 5000)
        idop = await pay.start_payfip(invoice_id)
        assert pay.sim.state.operations[idop].saisie == "W"
        pay.sim.state.operations[idop].saisie = "T"
        await pay.sim.state.complete(idop, "P")
        attempt = await pay.attempt(idop)
        assert attempt["state"] == "review" and "saisie" in attempt["note"]
        assert (await pay.invoice(invoice_id))["status"] == TO_PAY


async def test_an_unknown_result_code_goes_to_review(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 5000)
    idop = await pay.start_payfip(invoice_id)
    operation = pay.sim.state.set_result(idop, "A")
    operation.resultrans = "W"  # a code from a future version of the service
    await pay.client.post("/boe/payfip/notification", data={"idop": idop})
    attempt = await pay.attempt(idop)
    assert attempt["state"] == "review" and attempt["result_code"] == "W"
    assert (await pay.invoice(invoice_id))["status"] == TO_PAY


async def test_duplicate_notifications_and_the_return_settle_exactly_once(pay: Payments) -> None:
    first, second = await claire_with_invoices(pay, 1200, 3400)
    idop = await pay.start_payfip(first, second)
    pay.sim.state.set_result(idop, "P")
    commune = pay.commune()
    attempt = await attempts.find_by_provider_reference(commune.id, "payfip", idop)
    assert attempt is not None
    outcome = await provider_for_regie(commune, "CANT").fetch_outcome(idop)  # type: ignore[union-attr]

    async def notify(i: int) -> int:
        field = "idop" if i % 2 else "idOp"
        return (await pay.client.post("/boe/payfip/notification", data={field: idop})).status_code

    results = await asyncio.gather(
        *(notify(i) for i in range(50)),
        pay.client.get(f"/boe/payfip/retour?idop={idop}", follow_redirects=False),
        # Checks of one attempt run one at a time in a process; these bypass that and really
        # race to settle.
        *(checks.refresh(commune, attempt, pay.mailer, min_interval=0) for _ in range(10)),
        *(settlement.apply_outcome(commune, attempt.id, outcome, pay.mailer) for _ in range(10)),
    )
    assert results[:50] == [200] * 50
    assert set(results[51:]) == {"paid"}
    for invoice_id, amount in ((first, 1200), (second, 3400)):
        row = await pay.invoice(invoice_id)
        assert (row["status"], row["paid_cents"]) == (PAID, amount)
    assert await PaymentAttemptInvoice.count().where(PaymentAttemptInvoice.settled == True) == 2  # noqa: E712
    assert await OutboundEmail.count().where(OutboundEmail.subject.like("Reçu%")) == 1


async def test_a_notification_during_a_check_asks_once_more(
    pay: Payments, monkeypatch: pytest.MonkeyPatch
) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 1800)
    idop = await pay.start_payfip(invoice_id)
    # The first question is answered "not known yet" (P5), slowly; the payment is made meanwhile.
    pay.sim.state.queue_fault("P5", "recupererDetailPaiementSecurise")
    asked: list[str] = []
    asking, answer_now = asyncio.Event(), asyncio.Event()
    original = PayfipProvider.fetch_outcome

    async def slow_first(provider: PayfipProvider, reference: str) -> PaymentOutcome:
        asked.append(reference)
        if len(asked) == 1:
            asking.set()
            await answer_now.wait()
        return await original(provider, reference)

    monkeypatch.setattr(PayfipProvider, "fetch_outcome", slow_first)
    notify = {"idop": idop}
    first = asyncio.create_task(pay.client.post("/boe/payfip/notification", data=notify))
    await asking.wait()
    pay.sim.state.set_result(idop, "P")
    # A duplicate during the check is answered at once, without a question of its own...
    second = await asyncio.wait_for(
        pay.client.post("/boe/payfip/notification", data=notify), timeout=5
    )
    assert second.status_code == 200 and len(asked) == 1
    answer_now.set()
    assert (await first).status_code == 200
    # ...and the running check asks once more when it is done: the payment is seen.
    assert len(asked) == 2
    assert (await pay.attempt(idop))["state"] == "paid"
    assert (await pay.invoice(invoice_id))["status"] == PAID


async def test_notifications_that_make_the_portal_ask_are_rate_limited(
    pay: Payments, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        service_routes, "NOTIFICATIONS", throttle.Limit("payment_notification_test", 2, 60)
    )
    (invoice_id,) = await claire_with_invoices(pay, 1800)
    idop = await pay.start_payfip(invoice_id)  # not paid yet: each notification asks (P5)
    statuses = [
        (await pay.client.post("/boe/payfip/notification", data={"idop": idop})).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    # Unknown idops cost no lookup and are not counted.
    other = await pay.client.post("/boe/payfip/notification", data={"idop": "x" * 36})
    assert other.status_code == 200


async def test_a_lost_notification_is_settled_by_the_recheck(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 7000)
    pay.sim.state.notifications = "lose"
    idop = await pay.start_payfip(invoice_id)
    communes = {c.id: c for c in pay.app.state.portal.communes.values()}

    async def make_due() -> None:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await PaymentAttempt.update({PaymentAttempt.next_check_at: past}).where(
            PaymentAttempt.provider_reference == idop
        )

    # Not paid yet: the re-check hears P5 and waits longer before the next one.
    await make_due()
    assert await checks.recheck_due(communes, pay.mailer) == 1
    attempt = await pay.attempt(idop)
    assert attempt["state"] == "pending" and attempt["result_code"] == "P5"
    wait = as_aware(attempt["next_check_at"]) - dt.datetime.now(dt.UTC)
    assert wait > dt.timedelta(seconds=attempts.RECHECK_FIRST_SECONDS)

    await pay.sim.state.complete(idop, "P")  # paid, but the notification is lost
    assert not pay.sim.state.notification_log or pay.sim.state.notification_log[-1].error
    assert (await pay.invoice(invoice_id))["status"] == TO_PAY
    assert await checks.recheck_due(communes, pay.mailer) == 0  # not due yet
    await make_due()
    assert await checks.recheck_due(communes, pay.mailer) == 1
    assert (await pay.invoice(invoice_id))["status"] == PAID
    await pay.portal.mail_to(CLAIRE, "Reçu")


async def test_the_two_hour_rule(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 3000)
    pay.sim.state.notifications = "lose"
    old_idop = await pay.start_payfip(invoice_id)
    # Result unknown (P5): no second payment of the same invoice.
    again = await pay.start(invoice_id)
    assert again.status_code == 409 and "en cours de traitement" in again.text

    # Two hours later the invoice is released, although the re-check keeps asking about it.
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2, minutes=1)
    await PaymentAttempt.update({PaymentAttempt.created_at: two_hours_ago}).where(
        PaymentAttempt.provider_reference == old_idop
    )
    assert "Payer la facture" in await pay.detail(invoice_id)
    new_idop = await pay.start_payfip(invoice_id)
    assert new_idop != old_idop
    old, new = await pay.attempt(old_idop), await pay.attempt(new_idop)
    assert old["refdet"] != new["refdet"] and old["state"] == "pending"

    # The late result of the old attempt still counts; the new one then finds the invoice paid.
    pay.sim.state.notifications = "send"
    await pay.sim.state.complete(old_idop, "P")
    assert (await pay.invoice(invoice_id))["paid_cents"] == 3000
    await pay.sim.state.complete(new_idop, "P")
    new = await pay.attempt(new_idop)
    assert new["state"] == "review" and "changed" in new["note"]
    assert (await pay.invoice(invoice_id))["paid_cents"] == 3000


async def test_an_invoice_held_by_two_attempts_shows_the_longest_hold_once(
    pay: Payments,
) -> None:
    """The list and the detail read the holds in their own statement, one row per attempt:
    the invoice comes once, with the hold that lasts longest, on either page."""
    invoice_id, other_id = await claire_with_invoices(pay, 3000, 1500)
    pay.sim.state.notifications = "lose"
    old_idop = await pay.start_payfip(invoice_id)
    new_idop = await pay.start_payfip(other_id)  # another invoice's hold stays its own
    # A payment declared 3 days ago (held 15 days), and one more just started on the same
    # invoice (held 2 hours): the declared one lasts longest.
    await PaymentAttempt.update(
        {
            PaymentAttempt.state: "declared",
            PaymentAttempt.created_at: dt.datetime.now(dt.UTC) - dt.timedelta(days=3),
        }
    ).where(PaymentAttempt.provider_reference == old_idop)
    newest = (
        await PaymentAttempt.select(PaymentAttempt.id)
        .where(PaymentAttempt.provider_reference == new_idop)
        .first()
    )
    assert newest is not None
    await PaymentAttemptInvoice.insert(
        PaymentAttemptInvoice(attempt=newest["id"], invoice=invoice_id, amount_cents=3000)
    )

    listing = (await pay.client.get("/boe/factures")).text
    assert listing.count(f'id="invoice-link-{invoice_id}"') == 1
    assert listing.count("Paiement déclaré") == 1 and listing.count("Paiement en cours") == 1
    detail = await pay.detail(invoice_id)
    assert "le paiement doit encore être confirmé" in detail
    assert "Payer la facture" not in detail
    assert "en cours de traitement" in await pay.detail(other_id)

    # Declared 16 days ago: over; the attempt just started holds it now.
    await PaymentAttempt.update(
        {PaymentAttempt.created_at: dt.datetime.now(dt.UTC) - dt.timedelta(days=16)}
    ).where(PaymentAttempt.provider_reference == old_idop)
    listing = (await pay.client.get("/boe/factures")).text
    assert "Paiement déclaré" not in listing and listing.count("Paiement en cours") == 2
    assert "en cours de traitement" in await pay.detail(invoice_id)


async def test_two_attempts_paying_one_invoice_at_once_settle_it_once(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 3000)
    pay.sim.state.notifications = "lose"
    old_idop = await pay.start_payfip(invoice_id)
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2, minutes=1)
    await PaymentAttempt.update({PaymentAttempt.created_at: two_hours_ago}).where(
        PaymentAttempt.provider_reference == old_idop
    )
    new_idop = await pay.start_payfip(invoice_id)
    commune = pay.commune()
    provider = provider_for_regie(commune, "CANT")
    assert provider is not None
    attempts, outcomes = [], []
    for idop in (old_idop, new_idop):
        pay.sim.state.set_result(idop, "P")
        attempts.append((await pay.attempt(idop))["id"])
        outcomes.append(await provider.fetch_outcome(idop))
    states = await asyncio.gather(
        *(
            settlement.apply_outcome(commune, attempt, outcome, pay.mailer)
            for attempt, outcome in zip(attempts, outcomes, strict=True)
        )
    )
    assert sorted(states) == ["paid", "review"]
    row = await pay.invoice(invoice_id)
    assert (row["status"], row["paid_cents"]) == (PAID, 3000)


async def test_after_a_refusal_or_an_expiry_the_parent_can_try_again(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 3000)
    idop = await pay.start_payfip(invoice_id)
    await pay.sim.state.complete(idop, "R")
    attempt = await pay.attempt(idop)
    assert attempt["state"] == "refused"
    result = await pay.client.get(f"/boe/paiement/{attempt['refdet']}")
    assert "Paiement refusé" in result.text
    assert f'href="/boe/paiement?facture={invoice_id}">Payer de nouveau</a>' in result.text
    assert "Payer la facture" in await pay.detail(invoice_id)

    idop = await pay.start_payfip(invoice_id)
    pay.sim.state.purge()  # the night's clean-up: the idop is now P1
    await pay.client.post("/boe/payfip/notification", data={"idop": idop})
    assert (await pay.attempt(idop))["state"] == "expired"
    assert "Payer la facture" in await pay.detail(invoice_id)

    # Final states never change, whatever comes later.
    commune = pay.commune()
    final = await settlement.apply_outcome(
        commune,
        (await pay.attempt(idop))["id"],
        PaymentOutcome(result="paid", verified=True),
        pay.mailer,
    )
    assert final == "expired"


async def test_payment_outcomes_are_in_the_security_log(
    pay: Payments, security_log: SecurityLog
) -> None:
    """Settled, refused, abandoned: the attempt, its amount and service, never card data."""
    paid, refused, abandoned = await claire_with_invoices(pay, 24311, 3000, 1500)
    account = security_log.lines("activation")[0]["account"]
    idops = [await pay.start_payfip(invoice) for invoice in (paid, refused, abandoned)]
    await pay.sim.state.complete(idops[0], "P")
    await pay.sim.state.complete(idops[1], "R")
    last = await pay.attempt(idops[2])
    outcome = PaymentOutcome(result="abandoned", verified=False)
    await settlement.apply_outcome(pay.commune(), last["id"], outcome, pay.mailer)

    attempts = [await pay.attempt(idop) for idop in idops]
    lines = security_log.lines("payment")
    for line in lines:
        del line["time"]
    assert lines == [
        {
            "event": "payment",
            "outcome": said,
            "commune": "boe",
            "client": "",
            "account": account,
            "attempt": attempt["id"],
            "amount_cents": attempt["amount_cents"],
            "provider": "payfip",
        }
        for said, attempt in zip(("settled", "refused", "abandoned"), attempts, strict=True)
    ]
    # Asked again, a final attempt changes nothing and logs nothing.
    await settlement.apply_outcome(pay.commune(), last["id"], outcome, pay.mailer)
    assert len(security_log.lines("payment")) == 3


async def test_a_refused_creation_gets_a_clear_message(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 3000)
    pay.sim.state.queue_fault("A2", "creerPaiementSecurise")
    response = await pay.start(invoice_id)
    assert response.status_code == 503
    assert "n’accepte pas votre adresse de messagerie" in response.text
    pay.sim.state.queue_fault("TechIndisponibiliteErreur", "creerPaiementSecurise")
    response = await pay.start(invoice_id)
    assert response.status_code == 503 and "ne répond pas" in response.text
    states = [row["state"] for row in await PaymentAttempt.select(PaymentAttempt.state)]
    assert states == ["failed", "failed"]
    assert "Payer la facture" in await pay.detail(invoice_id)  # nothing holds the invoice


async def test_the_return_without_the_session_cookie_goes_to_the_result_page(
    pay: Payments,
) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 3000)
    idop = await pay.start_payfip(invoice_id)
    refdet = (await pay.attempt(idop))["refdet"]
    await pay.sim.state.complete(idop, "P")
    # A cross-site POST carries no SameSite=Lax cookie: the portal answers with a GET redirect.
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=pay.app), base_url="http://x")
    async with anonymous:
        back = await anonymous.post("/boe/payfip/retour", data={"idOp": idop})
        assert back.status_code == 303 and back.headers["location"] == f"/boe/paiement/{refdet}"
        login = await anonymous.get(back.headers["location"], follow_redirects=False)
        assert login.headers["location"] == "/boe/connexion"
    # Someone else's result page does not exist for them.
    await pay.client.post("/boe/deconnexion", data={"_csrf_token": await pay.portal.csrf("/boe/")})
    await add_payer("boe", "P9", "Famille Durand", "durand@example.org")
    await pay.portal.activate("boe", "durand@example.org")
    assert (await pay.client.get(f"/boe/paiement/{refdet}")).status_code == 404


# --- TIPI ----------------------------------------------------------------------------------


async def tipi_start(pay: Payments, invoice_id: int) -> dict[str, str]:
    response = await pay.start(invoice_id, slug="aure")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(pay.sim.tipi_url + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def test_tipi_records_a_paid_return_as_declared(pay: Payments) -> None:
    payer = await sign_in(pay.portal, "aure", JEAN, ref="A1")
    invoice_id = await add_invoice("aure", payer, "PERI-1", amount=10522)
    sent = await tipi_start(pay, invoice_id)
    assert {k: sent[k] for k in ("numcli", "montant", "saisie", "mel")} == {
        "numcli": "005500",
        "montant": "10522",
        "saisie": "T",
        "mel": JEAN,
    }
    assert sent["urlcl"] == "http://portail.test/aure/paiement/tipi_legacy/retour"
    waiting = await pay.client.get(f"/aure/paiement/{sent['refdet']}")
    assert "ne nous a pas encore renvoyé vers le portail" in waiting.text  # TIPI cannot be asked
    back = {
        **{k: sent[k] for k in ("numcli", "exer", "refdet", "objet", "montant", "mel", "saisie")},
        "resultrans": "P",
        "numauto": "00000001",
        "dattrans": "04052026",
        "heurtrans": "1325",
    }
    response = await pay.client.post("/aure/tipi/retour", data=back, follow_redirects=False)
    assert response.headers["location"] == f"/aure/paiement/{sent['refdet']}"
    attempt = await attempts.get_attempt(pay.commune("aure").id, sent["refdet"])
    assert attempt is not None and attempt.state == "declared"
    assert attempt.authorisation_number == "00000001"
    row = await pay.invoice(invoice_id)
    assert (row["status"], row["paid_cents"]) == (TO_PAY, 0)  # unsigned: nothing settled
    html = await pay.detail(invoice_id, "aure")
    assert "doit encore être confirmé" in html and "Payer la facture" not in html
    result = await pay.client.get(response.headers["location"])
    assert "Paiement déclaré, à confirmer" in result.text
    # A second return (a replay, a double click) changes nothing.
    await pay.client.get("/aure/tipi/retour", params={**back, "resultrans": "R"})
    assert (await attempts.get_attempt(pay.commune("aure").id, sent["refdet"])).state == "declared"  # type: ignore[union-attr]


async def test_tipi_return_checks(pay: Payments) -> None:
    payer = await sign_in(pay.portal, "aure", JEAN, ref="A1")
    invoice_id = await add_invoice("aure", payer, "PERI-1", amount=10522)
    commune_id = pay.commune("aure").id

    sent = await tipi_start(pay, invoice_id)
    back = {k: sent[k] for k in ("numcli", "exer", "refdet", "montant", "saisie")}
    await pay.client.get("/aure/tipi/retour", params={**back, "montant": "100", "resultrans": "P"})
    attempt = await attempts.get_attempt(commune_id, sent["refdet"])
    assert attempt is not None and attempt.state == "review"

    await PaymentAttempt.delete().where(PaymentAttempt.refdet == sent["refdet"])
    sent = await tipi_start(pay, invoice_id)
    back = {k: sent[k] for k in ("numcli", "exer", "refdet", "montant", "saisie")}
    await pay.client.post("/aure/tipi/retour", data={**back, "resultrans": "A"})
    assert (await attempts.get_attempt(commune_id, sent["refdet"])).state == "abandoned"  # type: ignore[union-attr]
    assert "Payer la facture" in await pay.detail(invoice_id, "aure")

    # A parent who never comes back from TIPI: after 2 days the attempt is closed.
    sent = await tipi_start(pay, invoice_id)
    three_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    await PaymentAttempt.update({PaymentAttempt.created_at: three_days_ago}).where(
        PaymentAttempt.refdet == sent["refdet"]
    )
    assert await checks.expire_stale() == 1
    assert (await attempts.get_attempt(commune_id, sent["refdet"])).state == "expired"  # type: ignore[union-attr]

    unknown = await pay.client.post(
        "/aure/tipi/retour",
        data={**back, "refdet": "ZZZZZZZZZZ", "resultrans": "P"},
        follow_redirects=False,
    )
    assert unknown.headers["location"] == "/aure/paiements"
    assert await PaymentAttempt.count().where(PaymentAttempt.state == "declared") == 0
