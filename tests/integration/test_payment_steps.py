"""The payment pages as the seeds show them: a step indicator (Sélection → Récapitulatif →
Paiement sécurisé → Résultat) readable by screen readers, a summary that promises prélèvement
only where the service offers it, and the "already paid by cheque" warning."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from core.db import Engine
from core.hookspecs import PaymentProvider
from core.mail.sink import MailSink
from core.payments import checks
from core.payments.providers import provider_for_regie
from core.settings import Settings
from simulators.payfip import running_simulator
from tests.integration.conftest import add_invoice, sign_in
from tests.integration.test_payments import Payments, claire_with_invoices, paying
from tests.plugins.counter_payment import CounterProvider


@pytest.fixture
async def pay(clean_db: Engine, settings: Settings, mail_sink: MailSink) -> AsyncIterator[Payments]:
    async with running_simulator() as sim, paying(settings, sim, mail_sink) as payments:
        yield payments


STEP_LABELS = ["Sélection", "Récapitulatif", "Paiement sécurisé", "Résultat"]
ALREADY_PAID = (
    "Si vous avez déjà réglé cette facture (chèque, espèces…), merci de ne pas tenir compte "
    "de ce paiement en ligne."
)


def steps(html: str) -> tuple[list[str], str]:
    """The indicator's step labels, in order, and the one marked as current."""
    nav = re.search(r'<nav id="payment-steps".*?</nav>', html, re.S)
    assert nav, html
    items = re.findall(r"<li ([^>]*)>.*?</span>\s*<span>([^<]+)<", nav.group(0), re.S)
    current = [label for attrs, label in items if 'aria-current="step"' in attrs]
    assert len(current) == 1, nav.group(0)
    assert nav.group(0).count('aria-label="Étapes du paiement"') == 1
    assert "<ol>" in nav.group(0)  # an ordered list: "1 of 4" for screen readers
    return [label for _, label in items], current[0]


def summary_section(html: str) -> str:
    pattern = r'<section class="card" aria-labelledby="payment-info-title">.*?</section>'
    section = re.search(pattern, html, re.S)
    assert section, html
    return section.group(0)


async def test_every_payment_page_shows_where_the_parent_is(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 2000)
    selection = await pay.client.get(f"/boe/paiement/selection?facture={invoice_id}")
    assert steps(selection.text) == (STEP_LABELS, "Sélection")
    assert "(étape 1 sur 4, en cours)" in selection.text

    summary = await pay.client.get(f"/boe/paiement?facture={invoice_id}")
    assert steps(summary.text) == (STEP_LABELS, "Récapitulatif")
    assert 'Sélection<span class="visually-hidden"> (terminée)' in summary.text
    assert 'Paiement sécurisé<span class="visually-hidden"> (à venir)' in summary.text

    # While the service has not answered, the parent is still at the secure payment step.
    idop = await pay.start_payfip(invoice_id)
    refdet = (await pay.attempt(idop))["refdet"]
    waiting = await pay.client.get(f"/boe/paiement/{refdet}")
    assert steps(waiting.text)[1] == "Paiement sécurisé"

    # The polled fragment moves the indicator on (out of band) once the answer is known.
    pay.sim.state.notifications = "lose"
    await pay.sim.state.complete(idop, "P")
    await asyncio.sleep(checks.MIN_SECONDS_BETWEEN_CHECKS)  # the waiting page asked just now
    poll = {"hx-request": "true", "hx-target": "payment-status"}
    fragment = await pay.client.get(f"/boe/paiement/{refdet}?etat=pending", headers=poll)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'hx-swap-oob="true"' in fragment.text
    assert steps(fragment.text)[1] == "Résultat"
    final = await pay.client.get(f"/boe/paiement/{refdet}")
    assert steps(final.text)[1] == "Résultat" and "hx-swap-oob" not in final.text


async def test_the_summary_promises_prelevement_only_where_the_service_offers_it(
    pay: Payments,
) -> None:
    payfip = provider_for_regie(pay.commune("boe"), "CANT")
    tipi = provider_for_regie(pay.commune("aure"), "PERI")
    assert payfip is not None and payfip.direct_debit is True
    assert tipi is not None and tipi.direct_debit is False
    counter: PaymentProvider = CounterProvider()  # the protocol names the attribute
    assert counter.direct_debit is False

    (invoice_id,) = await claire_with_invoices(pay, 2000)
    boe = summary_section((await pay.client.get(f"/boe/paiement?facture={invoice_id}")).text)
    assert "Vous y choisissez de payer par carte bancaire ou par prélèvement." in boe
    assert ALREADY_PAID in boe

    payer = await sign_in(pay.portal, "aure", "jean@example.org", ref="A1")
    tipi_invoice = await add_invoice("aure", payer, "PERI-1", amount=10522)
    aure = summary_section((await pay.client.get(f"/aure/paiement?facture={tipi_invoice}")).text)
    assert "Vous y payez par carte bancaire." in aure
    assert "prélèvement" not in aure
    assert ALREADY_PAID in aure


async def test_the_warning_speaks_of_every_invoice_of_a_basket(pay: Payments) -> None:
    first, second = await claire_with_invoices(pay, 1500, 2550)
    summary = await pay.client.get(f"/boe/paiement?facture={first}&facture={second}")
    section = summary_section(summary.text)
    assert "Si vous avez déjà réglé ces factures (chèque, espèces…)" in section
    assert ALREADY_PAID not in section
