"""Paiement en ligne: an agent suspends online payment (commune or régie) with the text parents
read, which they see at once and which stops a payment; resuming gives it back."""

from __future__ import annotations

import html
from typing import Any

import pytest

from core.backoffice import suspension
from core.backoffice.journal import list_entries
from core.backoffice.tables import GESTIONNAIRE, LECTEUR
from core.payments.tables import PaymentAttempt
from tests.integration import test_payments
from tests.integration.backoffice.web import commune_of, signed_in_agent
from tests.integration.conftest import Portal, add_invoice
from tests.integration.test_payments import Payments, claire_with_invoices

PAGE = "/boe/gestion/paiement-en-ligne/"
SUSPEND = "/boe/gestion/paiement-en-ligne/suspendre"
RESUME = "/boe/gestion/paiement-en-ligne/retablir"
TEXT = "Le paiement en ligne est fermé pour maintenance jusqu’à lundi."

# The payment tests' fixtures: the portal paying through the PayFiP simulator.
simulator = test_payments.simulator
pay = test_payments.pay


async def post(portal: Portal, path: str, data: dict[str, str]) -> Any:
    return await portal.post_form(path, data, form_page="/boe/gestion/")


async def test_a_suspension_reaches_the_parents_at_once(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 5000)
    await signed_in_agent(pay.portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    page = await pay.client.get(PAGE)
    assert page.status_code == 200
    assert "<h1>Paiement en ligne</h1>" in page.text
    assert 'aria-current="page">Paiement en ligne</a>' in page.text
    assert "Suspendre le paiement en ligne" in page.text
    assert "Rétablir le paiement en ligne" not in page.text
    assert "Payer la facture" in await pay.detail(invoice_id)
    # The parent opens the summary, then the agent suspends before the click on "Payer".
    token = await pay.portal.csrf(f"/boe/paiement?facture={invoice_id}")

    response = await post(pay.portal, SUSPEND, {"regie": "commune", "message": TEXT})
    assert response.status_code == 303
    assert response.headers["location"] == PAGE + "?info=payment_suspended"
    detail = html.unescape(await pay.detail(invoice_id))
    assert TEXT in detail and "Payer la facture" not in detail
    refused = await pay.client.post(
        "/boe/paiement",
        data={"facture": str(invoice_id), "_csrf_token": token},
        follow_redirects=False,
    )
    assert refused.status_code == 409
    assert TEXT in html.unescape(refused.text)
    assert await PaymentAttempt.count() == 0
    page = await pay.client.get(PAGE)
    assert "Rétablir le paiement en ligne" in page.text and TEXT in html.unescape(page.text)

    response = await post(pay.portal, RESUME, {"regie": "commune"})
    assert response.headers["location"] == PAGE + "?info=payment_resumed"
    assert "Payer la facture" in await pay.detail(invoice_id)
    again = await post(pay.portal, RESUME, {"regie": "commune"})
    assert again.headers["location"] == PAGE + "?info=payment_not_suspended"
    entries = (await list_entries(commune_of(pay.portal, "boe").id)).entries
    assert [(e.action, e.target) for e in entries if e.action.startswith("payments.")] == [
        ("payments.resume", "toute la commune"),
        ("payments.suspend", "toute la commune"),
    ]


async def test_a_regie_suspension_with_the_default_text(pay: Payments) -> None:
    (cantine,) = await claire_with_invoices(pay, 5000)
    payer = (await pay.invoice(cantine))["payer"]
    garderie = await add_invoice("boe", payer, "GARD-1", regie="GARD", amount=3000)
    await signed_in_agent(pay.portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    response = await post(pay.portal, SUSPEND, {"regie": "CANT", "message": ""})
    assert response.status_code == 303
    default = suspension.default_message()
    detail = html.unescape(await pay.detail(cantine))
    assert default in detail and "Payer la facture" not in detail
    # The selection says why, and the other régie is still paid online.
    selection = html.unescape((await pay.client.get("/boe/paiement/selection")).text)
    assert default in selection
    assert "Payer la facture" in await pay.detail(garderie)
    await post(pay.portal, RESUME, {"regie": "CANT"})
    assert "Payer la facture" in await pay.detail(cantine)


async def test_the_suspensions_are_read_once_per_request(
    pay: Payments, monkeypatch: pytest.MonkeyPatch
) -> None:
    await claire_with_invoices(pay, 1000, 2000, 3000, 4000)
    calls: list[int] = []
    original = suspension.suspensions_for

    async def counted(commune_id: int) -> dict[str | None, str]:
        calls.append(commune_id)
        return await original(commune_id)

    monkeypatch.setattr(suspension, "suspensions_for", counted)
    page = await pay.client.get("/boe/paiement/selection")
    assert page.status_code == 200 and page.text.count('type="checkbox"') >= 4
    assert len(calls) == 1
    await pay.client.get("/boe/paiement/selection")
    assert len(calls) == 2  # a new request reads it again: a suspension shows at once


async def test_errors_and_who_may_change_it(pay: Payments) -> None:
    await signed_in_agent(pay.portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    too_long = await post(pay.portal, SUSPEND, {"regie": "CANT", "message": "x" * 1001})
    assert too_long.status_code == 422
    assert "<title>Erreur – Paiement en ligne" in too_long.text
    assert "Le message ne doit pas dépasser 1000 caractères." in too_long.text
    assert 'aria-invalid="true"' in too_long.text and "x" * 1001 in too_long.text
    unknown = await post(pay.portal, SUSPEND, {"regie": "NOPE", "message": ""})
    assert unknown.status_code == 422
    assert "Régie « NOPE » inconnue." in html.unescape(unknown.text)
    assert await suspension.suspensions_for(commune_of(pay.portal, "boe").id) == {}

    await pay.client.post(
        "/boe/gestion/deconnexion", data={"_csrf_token": await pay.portal.csrf("/boe/gestion/")}
    )
    await signed_in_agent(pay.portal, "boe", "lecteur@boe.test", LECTEUR)
    page = await pay.client.get(PAGE)
    assert page.status_code == 200
    assert "/suspendre" not in page.text and "/retablir" not in page.text
    assert "pas de le changer" in page.text
    forbidden = await post(pay.portal, SUSPEND, {"regie": "commune", "message": ""})
    assert forbidden.status_code == 403
