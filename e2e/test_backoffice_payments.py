"""Paiements and Paiement en ligne in the back office, at desktop and tablet sizes: an agent
reads the payments and one in detail, suspends online payment with a text that a parent then
reads on an invoice they can no longer pay, and resumes it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.demo_accounts import DEMO_PASSWORD
from core.mail.sink import MailSink
from e2e.backoffice import BACKOFFICE_SIZES, agent_address, open_section, signed_in_agent
from e2e.journeys import Viewport, assert_accessible, assert_fits_the_width, login, url

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
DEMO_PARENT = "claire.martin@example.org"
INVOICE = "CANT-2026-1001"  # one of the demo parent’s invoices still to pay (régie CANT)

# A refused attempt (it holds no invoice) of the demo parent's invoice, written as the payment
# code leaves one, so the list has a payment to open whatever ran before.
SEED_ATTEMPT = """
import asyncio, datetime as dt, sys
from e2e.seed import commune_database

async def main(refdet):
    from core.communes.tables import Regie
    from core.invoices.tables import Invoice
    from core.payments.tables import PaymentAttempt, PaymentAttemptInvoice
    async with commune_database("boe") as (_settings, commune_id):
        if await PaymentAttempt.exists().where(PaymentAttempt.refdet == refdet):
            return
        invoice = await Invoice.select(Invoice.id, Invoice.regie).where(
            (Invoice.commune == commune_id) & (Invoice.number == sys.argv[2])
        ).first()
        now = dt.datetime.now(dt.UTC)
        attempt = await PaymentAttempt.insert(PaymentAttempt(
            commune=commune_id, regie=invoice["regie"], provider="payfip", refdet=refdet,
            provider_reference="e2e-" + refdet, numcli="004200", exer="2026",
            amount_cents=4520, email="claire.martin@example.org", state="refused",
            result_code="R", detail='{"resultrans": "R", "refdet": "%s"}' % refdet,
            note="", created_at=now, updated_at=now,
        )).returning(PaymentAttempt.id)
        await PaymentAttemptInvoice.insert(PaymentAttemptInvoice(
            attempt=attempt[0]["id"], invoice=invoice["id"], amount_cents=4520
        ))

asyncio.run(main(sys.argv[1]))
"""


def seed_attempt(server: object, refdet: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SEED_ATTEMPT, refdet, INVOICE],
        env=server.env,  # type: ignore[attr-defined]
        cwd=REPO,  # where `e2e.seed` imports from
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")


def open_demo_invoice(page: Page, base_url: str, *, log_in: bool = True) -> None:
    """The demo parent (signed in first, unless already) opens the invoice."""
    if log_in:
        login(page, base_url, DEMO_PARENT, DEMO_PASSWORD)
    page.goto(url(base_url, "factures"))
    page.get_by_role("link", name=INVOICE).click()
    expect(page.get_by_role("heading", name=f"Facture n° {INVOICE}")).to_be_visible()


def resume_for_the_commune(page: Page, base_url: str) -> None:
    page.goto(url(base_url, "gestion/paiement-en-ligne/"))
    resume = page.get_by_role("button", name="Rétablir le paiement en ligne pour toute la commune")
    if resume.count():
        resume.click()
        expect(page.get_by_role("status")).to_have_text("Le paiement en ligne est rétabli.")


@BACKOFFICE_SIZES
def test_an_agent_reads_payments_and_suspends_online_payment(
    page: Page, viewport: Viewport, server_process: object, mail_sink: MailSink
) -> None:
    base_url = server_process.base_url  # type: ignore[attr-defined]
    refdet = f"E2E{viewport.name.upper()[:8]}PAIEMENT"[:20]
    seed_attempt(server_process, refdet)
    email = agent_address("payments", viewport.name)
    signed_in_agent(page, server_process, mail_sink, email, "gestionnaire")

    open_section(page, "Paiements")
    expect(page.get_by_role("heading", level=1)).to_have_text("Paiements")
    expect(page.get_by_role("link", name="Paiements", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_role("table", name=re.compile("Paiements en ligne"))).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)
    # A wrong filter says so, in French, next to its field.
    page.get_by_label("Montant minimum (€)").fill("douze")
    page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_title(re.compile("^Erreur – Paiements"))
    expect(page.locator(".field__error")).to_contain_text("Montant non valide")
    assert_accessible(page)
    page.get_by_role("link", name="Effacer les filtres").click()

    page.get_by_role("link", name=refdet).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Paiement {refdet}")
    expect(page.get_by_role("region", name="Réponse brute du service")).to_contain_text(
        '"resultrans": "R"'
    )
    expect(page.get_by_role("button", name="Revérifier auprès de PayFiP")).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)

    text = f"Paiement en ligne fermé pour maintenance ({viewport.name})."
    try:
        open_section(page, "Paiement en ligne")
        expect(page.get_by_role("heading", level=1)).to_have_text("Paiement en ligne")
        assert_accessible(page)
        page.get_by_label("Texte lu par les familles de la commune").fill(text)
        page.get_by_role(
            "button", name="Suspendre le paiement en ligne pour toute la commune"
        ).click()
        expect(page.get_by_role("status")).to_contain_text("Le paiement en ligne est suspendu")
        expect(page.get_by_role("table", name="État du paiement en ligne")).to_contain_text(text)
        assert_fits_the_width(page)
        assert_accessible(page)

        open_demo_invoice(page, base_url)
        expect(page.get_by_text(text)).to_be_visible()
        expect(page.get_by_role("link", name="Payer la facture")).to_have_count(0)
        assert_accessible(page)
    finally:
        resume_for_the_commune(page, base_url)
    expect(page.get_by_role("button", name=re.compile("^Rétablir"))).to_have_count(0)
    open_demo_invoice(page, base_url, log_in=False)
    expect(page.get_by_text(text)).to_have_count(0)
    expect(page.get_by_role("link", name="Payer la facture")).to_be_visible()
