"""Trust in the payment services' ways back: returns cannot hammer the service, questions about
one attempt keep a minimum interval, and a cancelled PayFiP payment stays open a few minutes
(issue 11, items 12 and 15). Against the PayFiP simulator, as in `test_payments.py`."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.db import Engine, as_aware
from core.hookspecs import PaymentOutcome
from core.invoices.tables import PAID, TO_PAY
from core.mail.sink import MailSink
from core.payments import checks, service_routes, settlement
from core.payments.tables import PaymentAttempt
from core.security import throttle
from core.settings import Settings
from plugins.payfip.provider import PayfipProvider
from simulators.payfip import running_simulator
from simulators.payfip.state import PARIS
from tests.integration.test_payments import Payments, claire_with_invoices, paying


@pytest.fixture
async def pay(clean_db: Engine, settings: Settings, mail_sink: MailSink) -> AsyncIterator[Payments]:
    async with running_simulator() as sim, paying(settings, sim, mail_sink) as payments:
        yield payments


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The idops the portal asks the service about (`recupererDetailPaiementSecurise`)."""
    questions: list[str] = []
    original = PayfipProvider.fetch_outcome

    async def counting(provider: PayfipProvider, reference: str) -> PaymentOutcome:
        questions.append(reference)
        return await original(provider, reference)

    monkeypatch.setattr(PayfipProvider, "fetch_outcome", counting)
    return questions


async def _age_last_check(idop: str, seconds: float) -> None:
    """As if the last question about the attempt was asked `seconds` earlier than it was."""
    row = await PaymentAttempt.select(PaymentAttempt.last_checked_at).where(
        PaymentAttempt.provider_reference == idop
    )
    earlier = as_aware(row[0]["last_checked_at"]) - dt.timedelta(seconds=seconds)
    await PaymentAttempt.update({PaymentAttempt.last_checked_at: earlier}).where(
        PaymentAttempt.provider_reference == idop
    )


async def _make_due(idop: str) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await PaymentAttempt.update({PaymentAttempt.next_check_at: past}).where(
        PaymentAttempt.provider_reference == idop
    )


def _communes(pay: Payments) -> dict[int, Any]:
    return {c.id: c for c in pay.app.state.portal.communes.values()}


# --- Item 12: returns are limited, questions keep their interval ------------------------------


async def test_a_burst_of_returns_asks_the_service_once_and_is_then_limited(
    pay: Payments, asked: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The production limit, in a window long enough that the burst cannot straddle two.
    limit = service_routes.RETURNS
    monkeypatch.setattr(
        service_routes, "RETURNS", throttle.Limit("payment_return_test", limit.max_hits, 3600)
    )
    assert limit.max_hits == 20
    (invoice_id,) = await claire_with_invoices(pay, 1800)
    idop = await pay.start_payfip(invoice_id)  # not paid yet: the service answers P5
    refdet = (await pay.attempt(idop))["refdet"]

    async def back(path: str = "/boe/payfip/retour") -> str:
        response = await pay.client.get(f"{path}?idop={idop}", follow_redirects=False)
        assert response.status_code == 303
        return str(response.headers["location"])

    burst = await asyncio.gather(*(back() for _ in range(10)))
    burst += [await back("/boe/paiement/payfip/retour") for _ in range(10)]
    assert burst == [f"/boe/paiement/{refdet}"] * 20
    assert 1 <= len(asked) <= 2
    # The 21st is limited: to "Mes paiements", without a question.
    assert await back() == "/boe/paiements"
    assert await back("/boe/paiement/payfip/retour") == "/boe/paiements"
    assert len(asked) <= 2


async def test_questions_about_one_attempt_keep_a_minimum_interval(
    pay: Payments, asked: list[str]
) -> None:
    assert checks.MIN_SECONDS_BETWEEN_CHECKS == 5.0
    (invoice_id,) = await claire_with_invoices(pay, 1800)
    pay.sim.state.notifications = "lose"
    idop = await pay.start_payfip(invoice_id)
    refdet = (await pay.attempt(idop))["refdet"]
    await pay.client.get(f"/boe/payfip/retour?idop={idop}")  # a question (P5)...
    assert len(asked) == 1
    # ...after which, inside the interval, the result page answers from the stored state.
    for _ in range(3):
        page = await pay.client.get(f"/boe/paiement/{refdet}")
        assert "Paiement en cours de traitement" in page.text
    assert len(asked) == 1
    # Once the interval is over, the next one asks again.
    await _age_last_check(idop, checks.MIN_SECONDS_BETWEEN_CHECKS)
    await pay.client.get(f"/boe/paiement/{refdet}")
    assert len(asked) == 2


async def test_a_notification_may_ask_once_inside_the_interval(
    pay: Payments, asked: list[str]
) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 1800)
    idop = await pay.start_payfip(invoice_id)
    await pay.client.get(f"/boe/payfip/retour?idop={idop}")  # asked: P5
    # The service's own word that something changed is not lost in the interval: one asks...
    notify = {"idop": idop}
    assert (await pay.client.post("/boe/payfip/notification", data=notify)).status_code == 200
    assert len(asked) == 2
    # ...further ones answer from the stored state and bring the re-check forward.
    for _ in range(5):
        assert (await pay.client.post("/boe/payfip/notification", data=notify)).status_code == 200
    assert len(asked) == 2
    attempt = await pay.attempt(idop)
    soon = as_aware(attempt["next_check_at"]) - dt.datetime.now(dt.UTC)
    assert soon <= dt.timedelta(seconds=checks.MIN_SECONDS_BETWEEN_CHECKS)
    # Paid meanwhile: the re-check, due, waits for the interval's end, then asks.
    pay.sim.state.set_result(idop, "P")
    await _make_due(idop)
    started = time.monotonic()
    assert await checks.recheck_due(_communes(pay), pay.mailer) == 1
    assert time.monotonic() - started < checks.MIN_SECONDS_BETWEEN_CHECKS + 1
    assert len(asked) == 3 and (await pay.invoice(invoice_id))["status"] == PAID


# --- Item 15: a cancelled PayFiP payment stays open a few minutes ------------------------------


def _late_payment(pay: Payments, idop: str) -> None:
    """The service completes the operation the parent had cancelled (the case PayFiP's own
    client library keeps an `A` open for)."""
    operation = pay.sim.state.operations[idop]
    operation.resultrans = None
    pay.sim.state.set_result(idop, "P")


def _cancelled_at(pay: Payments, idop: str, moment: dt.datetime) -> None:
    operation = pay.sim.state.operations[idop]
    operation.dattrans = moment.astimezone(PARIS).strftime("%d%m%Y")
    operation.heurtrans = moment.astimezone(PARIS).strftime("%H%M")


async def test_an_abandon_stays_open_and_a_late_payment_settles(pay: Payments) -> None:
    assert dt.timedelta(minutes=5) == settlement.ABANDON_GRACE
    (invoice_id,) = await claire_with_invoices(pay, 2600)
    idop = await pay.start_payfip(invoice_id)
    await pay.sim.state.complete(idop, "A")  # "Annuler", with its notification
    attempt = await pay.attempt(idop)
    assert attempt["state"] == "abandoning" and attempt["result_code"] == "A"
    # Asked again when the grace is over (a late payment's notification would ask sooner).
    next_check = as_aware(attempt["next_check_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=3) < next_check <= settlement.ABANDON_GRACE
    # The parent reads that they abandoned; the invoice stays held meanwhile.
    result = await pay.client.get(f"/boe/paiement/{attempt['refdet']}")
    assert "Paiement abandonné" in result.text
    assert "Vous avez abandonné le paiement" in result.text
    assert "Payer de nouveau" not in result.text
    detail = await pay.detail(invoice_id)
    assert "Payer la facture" not in detail
    assert (await pay.start(invoice_id)).status_code == 409

    _late_payment(pay, idop)
    await _age_last_check(idop, checks.MIN_SECONDS_BETWEEN_CHECKS)
    await _make_due(idop)
    assert await checks.recheck_due(_communes(pay), pay.mailer) == 1
    assert (await pay.attempt(idop))["state"] == "paid"
    row = await pay.invoice(invoice_id)
    assert (row["status"], row["paid_cents"]) == (PAID, 2600)
    await pay.portal.mail_to("claire@example.org", "Reçu")


async def test_after_the_window_an_abandon_is_final(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 2600)
    idop = await pay.start_payfip(invoice_id)
    await pay.sim.state.complete(idop, "A")
    assert (await pay.attempt(idop))["state"] == "abandoning"
    # Six minutes later: the re-check hears A again and closes the attempt.
    six_minutes_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
    _cancelled_at(pay, idop, six_minutes_ago)
    await PaymentAttempt.update({PaymentAttempt.created_at: six_minutes_ago}).where(
        PaymentAttempt.provider_reference == idop
    )
    await _age_last_check(idop, checks.MIN_SECONDS_BETWEEN_CHECKS)
    await _make_due(idop)
    assert await checks.recheck_due(_communes(pay), pay.mailer) == 1
    attempt = await pay.attempt(idop)
    assert attempt["state"] == "abandoned" and attempt["next_check_at"] is None
    assert "Payer la facture" in await pay.detail(invoice_id)
    result = await pay.client.get(f"/boe/paiement/{attempt['refdet']}")
    assert "Vous avez abandonné le paiement" in result.text and "Payer de nouveau" in result.text
    # Final: a late result changes nothing any more.
    _late_payment(pay, idop)
    await pay.client.post("/boe/payfip/notification", data={"idop": idop})
    assert (await pay.attempt(idop))["state"] == "abandoned"
    assert (await pay.invoice(invoice_id))["status"] == TO_PAY


async def test_an_abandon_first_heard_after_the_window_is_final_at_once(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 2600)
    pay.sim.state.notifications = "lose"
    idop = await pay.start_payfip(invoice_id)
    pay.sim.state.set_result(idop, "A")
    ten_minutes_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    _cancelled_at(pay, idop, ten_minutes_ago)
    await PaymentAttempt.update({PaymentAttempt.created_at: ten_minutes_ago}).where(
        PaymentAttempt.provider_reference == idop
    )
    await pay.client.get(f"/boe/payfip/retour?idop={idop}")
    assert (await pay.attempt(idop))["state"] == "abandoned"
    assert "Payer la facture" in await pay.detail(invoice_id)
