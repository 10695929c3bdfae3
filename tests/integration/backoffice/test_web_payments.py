"""Paiements in the back office: the list and its filters, one attempt, asking the service again
(against the PayFiP simulator) and the decision on an attempt in review."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

from core.backoffice.journal import list_entries
from core.backoffice.tables import GESTIONNAIRE, LECTEUR, PaymentReview
from core.invoices.tables import PAID, TO_PAY
from core.mail.tables import OutboundEmail
from core.payments.tables import PaymentAttempt
from tests.integration import test_payments
from tests.integration.backoffice.payment_rows import add_attempt, add_regie
from tests.integration.backoffice.web import commune_of, signed_in_agent
from tests.integration.conftest import Portal, add_invoice, add_payer
from tests.integration.test_payments import Payments, claire_with_invoices

LIST = "/boe/gestion/paiements/"

# The payment tests' fixtures: the portal paying through the PayFiP simulator.
simulator = test_payments.simulator
pay = test_payments.pay


async def post(portal: Portal, path: str, data: dict[str, str]) -> Any:
    """Post a back-office form (its CSRF token from the dashboard's logout form)."""
    return await portal.post_form(path, data, form_page="/boe/gestion/")


def paris(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00+01:00")


async def test_the_list_shows_the_communes_attempts_newest_first(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    payer = await add_payer("boe", "P1", "Famille Martin", "claire@example.org")
    first = await add_invoice("boe", payer, "F-001")
    second = await add_invoice("boe", payer, "F-002")
    await add_attempt("boe", [first], created_at=paris("2026-01-05"), authorisation="AUTH1")
    await add_attempt("boe", [second], state="refused", amount=1000, created_at=paris("2026-01-06"))

    page = await portal.client.get(LIST)
    assert page.status_code == 200
    text = page.text
    assert "<h1>Paiements</h1>" in text
    assert '<caption id="payments-caption">' in text
    assert 'aria-current="page">Paiements</a>' in text
    assert text.index("F-002") < text.index("F-001")  # newest first
    assert "Famille Martin" in text and "243,11" in text and "AUTH1" in text
    assert "refusé" in text and "payé" in text
    assert "2 paiements" in text
    # A lecteur exports nothing personal: no button.
    assert "export.csv" not in text


async def test_filters_and_a_bad_filter_message(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    payer = await add_payer("boe", "P1", "Famille Martin", "claire@example.org")
    small = await add_invoice("boe", payer, "F-SMALL")
    big = await add_invoice("boe", payer, "F-BIG")
    review = await add_invoice("boe", payer, "F-REVIEW")
    await add_attempt("boe", [small], amount=1250, created_at=paris("2026-01-05"))
    await add_attempt("boe", [big], amount=50000, created_at=paris("2026-02-05"))
    await add_attempt("boe", [review], state="review", amount=3000, created_at=paris("2026-02-06"))

    async def found(query: str) -> str:
        response = await portal.client.get(LIST + "?" + query)
        assert response.status_code == 200, response.text
        return response.text

    text = await found("du=2026-02-01&au=2026-02-28")
    assert "F-BIG" in text and "F-REVIEW" in text and "F-SMALL" not in text
    text = await found("du=01/01/2026&au=31/01/2026")  # typed by hand
    assert "F-SMALL" in text and "F-BIG" not in text
    text = await found("min=12,50&max=100")  # euros, decimal comma
    assert "F-SMALL" in text and "F-REVIEW" in text and "F-BIG" not in text
    text = await found("etat=review")
    assert "F-REVIEW" in text and "F-SMALL" not in text
    text = await found("regie=CANT&service=payfip")
    assert "3 paiements" in text
    # The export links keep the criteria.
    assert "export.csv?regie=CANT&amp;service=payfip" in text

    bad = await portal.client.get(LIST + "?du=31/02/2026&min=douze&etat=nope")
    assert bad.status_code == 422
    assert "<title>Erreur – Paiements" in bad.text
    assert 'role="alert"' in bad.text
    assert "Date non valide : saisissez-la sous la forme JJ/MM/AAAA" in bad.text
    assert "Montant non valide" in bad.text
    assert "Choisissez une valeur de la liste." in bad.text
    assert 'aria-invalid="true"' in bad.text
    assert 'value="douze"' in bad.text  # nothing typed is lost
    assert "3 paiements" in bad.text  # the wrong criteria are left out
    reversed_dates = await portal.client.get(LIST + "?du=2026-02-01&au=2026-01-01")
    assert "La date de fin doit être après la date de début." in reversed_dates.text


async def test_the_list_is_paginated_by_50(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    payer = await add_payer("boe", "P1", "Famille Martin", "claire@example.org")
    start = paris("2026-01-01")
    for i in range(53):
        invoice = await add_invoice("boe", payer, f"N-{i:03d}")
        await add_attempt("boe", [invoice], created_at=start + dt.timedelta(minutes=i))
    first = (await portal.client.get(LIST)).text
    assert first.count("<tr>") - 1 == 50  # 50 rows (and the header's)
    assert "Page 1 sur 2" in first and "N-052" in first and "N-002" not in first
    assert 'href="/boe/gestion/paiements/?page=2"' in first
    second = (await portal.client.get(LIST + "?page=2")).text
    assert "N-002" in second and "N-000" in second and "N-052" not in second
    filtered = (await portal.client.get(LIST + "?etat=paid&page=2")).text
    assert 'href="/boe/gestion/paiements/?etat=paid&amp;page=1"' in filtered


async def test_the_detail_and_another_communes_attempt(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    payer = await add_payer("boe", "P1", "Famille <Martin>", "claire@example.org")
    invoice = await add_invoice("boe", payer, "F-001")
    attempt = await add_attempt("boe", [invoice], state="review", authorisation="AUTH9")
    await PaymentAttempt.update(
        {
            PaymentAttempt.detail: '{"resultrans": "P", "objet": "<script>x</script>"}',
            PaymentAttempt.note: "montant 500 != 24311",
        }
    ).where(PaymentAttempt.id == attempt)
    page = await portal.client.get(f"{LIST}{attempt}")
    assert page.status_code == 200
    text = page.text
    assert "F-001" in text and "Famille &lt;Martin&gt;" in text
    assert "à examiner" in text and "montant 500 != 24311" in text and "AUTH9" in text
    # The raw answer, pretty-printed and escaped.
    assert "&#34;objet&#34;: &#34;&lt;script&gt;x&lt;/script&gt;&#34;,\n" in text
    assert "<script>x" not in text
    # A lecteur reads, does not act.
    assert "Revérifier auprès de PayFiP" not in text and "Confirmer le paiement" not in text
    forbidden = await post(portal, f"{LIST}{attempt}/reverifier", {})
    assert forbidden.status_code == 403

    await add_regie("aure", "PERI")
    aure_payer = await add_payer("aure", "A1", "Famille Aure", "jean@example.org")
    aure_invoice = await add_invoice("aure", aure_payer, "AURE-1")
    aure_attempt = await add_attempt("aure", [aure_invoice], regie="PERI")
    other = await portal.client.get(f"{LIST}{aure_attempt}")
    assert other.status_code == 404
    assert "AURE-1" not in other.text and "Famille Aure" not in other.text
    assert (await portal.client.get(f"{LIST}999999")).status_code == 404
    assert (await portal.client.get(f"{LIST}99999999999")).status_code == 404
    listing = (await portal.client.get(LIST)).text
    assert "AURE-1" not in listing


async def _review_attempt(pay: Payments) -> tuple[int, int, str]:
    """An attempt in review because the service answered a code nobody knows; (invoice id,
    attempt id, idop)."""
    (invoice_id,) = await claire_with_invoices(pay, 5000)
    idop = await pay.start_payfip(invoice_id)
    operation = pay.sim.state.set_result(idop, "A")
    operation.resultrans = "W"
    await pay.client.post("/boe/payfip/notification", data={"idop": idop})
    attempt = await pay.attempt(idop)
    assert attempt["state"] == "review"
    return invoice_id, int(attempt["id"]), idop


async def test_recheck_asks_the_simulator(pay: Payments) -> None:
    (invoice_id,) = await claire_with_invoices(pay, 5000)
    idop = await pay.start_payfip(invoice_id)
    await signed_in_agent(pay.portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    attempt_id = int((await pay.attempt(idop))["id"])
    page = await pay.client.get(f"{LIST}{attempt_id}")
    assert "Revérifier auprès de PayFiP" in page.text

    # Not known yet: the service says so, the attempt stays open.
    response = await post(pay.portal, f"{LIST}{attempt_id}/reverifier", {})
    assert response.status_code == 303
    assert response.headers["location"].endswith("?info=payments_recheck_pending")
    # Paid at the service (its notification lost): asking now settles the invoice.
    pay.sim.state.set_result(idop, "P")
    response = await post(pay.portal, f"{LIST}{attempt_id}/reverifier", {})
    assert response.headers["location"].endswith("?info=payments_recheck_paid")
    assert (await pay.invoice(invoice_id))["status"] == PAID
    page = await pay.client.get(response.headers["location"])
    assert 'role="status">Le service de paiement a été interrogé : le paiement est confirmé' in (
        page.text
    )
    # A final attempt is only asked: its state does not change.
    response = await post(pay.portal, f"{LIST}{attempt_id}/reverifier", {})
    assert response.headers["location"].endswith("?info=payments_recheck_says_paid")
    commune = commune_of(pay.portal, "boe")
    entries = (await list_entries(commune.id)).entries
    rechecks = [e for e in entries if e.action == "payments.recheck"]
    assert len(rechecks) == 3
    assert rechecks[-1].before == {"state": "pending"}
    assert rechecks[-1].after == {"state": "pending"}
    assert rechecks[1].after == {"state": "paid"}
    assert rechecks[0].after == {"state": "paid", "result": "paid", "code": "P"}


async def test_a_review_decision_needs_a_comment_and_settles_once(pay: Payments) -> None:
    invoice_id, attempt_id, idop = await _review_attempt(pay)
    await signed_in_agent(pay.portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    page = (await pay.client.get(f"{LIST}{attempt_id}")).text
    assert "Confirmer le paiement" in page and "Clore sans régler" in page
    decision = f"{LIST}{attempt_id}/decision"

    empty = await post(pay.portal, decision, {"decision": "confirmed", "commentaire": "  "})
    assert empty.status_code == 422
    assert "<title>Erreur – Paiement" in empty.text
    assert "Le commentaire est obligatoire" in empty.text
    assert 'aria-invalid="true"' in empty.text

    # The service still answers the unknown code: it does not say paid, so no confirmation.
    refused = await post(
        pay.portal, decision, {"decision": "confirmed", "commentaire": "Vu avec la DGFiP"}
    )
    assert refused.status_code == 422
    assert "n’indique pas que ce paiement a été payé" in html.unescape(refused.text)
    assert "Vu avec la DGFiP" in refused.text  # nothing typed is lost
    assert (await pay.invoice(invoice_id))["status"] == TO_PAY

    # The service now answers "paid": the agent confirms; the invoice is settled once.
    pay.sim.state.operations[idop].resultrans = "P"
    confirmed = await post(
        pay.portal, decision, {"decision": "confirmed", "commentaire": "Vu avec la DGFiP"}
    )
    assert confirmed.status_code == 303, confirmed.text
    assert confirmed.headers["location"].endswith("?info=payments_review_confirmed")
    invoice = await pay.invoice(invoice_id)
    assert invoice["status"] == PAID and invoice["paid_cents"] == 5000
    assert (await pay.attempt(idop))["state"] == "paid"
    page = (await pay.client.get(f"{LIST}{attempt_id}")).text
    assert "Paiement confirmé : factures réglées" in page and "Vu avec la DGFiP" in page
    assert "Confirmer le paiement" not in page
    again = await post(pay.portal, decision, {"decision": "confirmed", "commentaire": "Encore"})
    assert again.status_code == 422
    assert "n’est pas (ou plus) à examiner" in html.unescape(again.text)
    assert (await pay.invoice(invoice_id))["paid_cents"] == 5000
    assert await PaymentReview.count() == 1
    receipts = await OutboundEmail.count().where(OutboundEmail.subject.like("Reçu%"))
    assert receipts == 1
    entries = (await list_entries(commune_of(pay.portal, "boe").id)).entries
    review = next(e for e in entries if e.action == "payments.review")
    assert review.before["state"] == "review"
    assert review.after == {
        "state": "paid",
        "decision": "confirmed",
        "comment": "Vu avec la DGFiP",
    }


async def test_closing_a_review_leaves_the_invoices_alone(pay: Payments) -> None:
    invoice_id, attempt_id, idop = await _review_attempt(pay)
    await signed_in_agent(pay.portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    html_before = await pay.detail(invoice_id)
    assert "vérification" in html_before and "Payer la facture" not in html_before
    closed = await post(
        pay.portal,
        f"{LIST}{attempt_id}/decision",
        {"decision": "closed", "commentaire": "La famille a payé au guichet."},
    )
    assert closed.status_code == 303
    assert closed.headers["location"].endswith("?info=payments_review_closed")
    assert (await pay.attempt(idop))["state"] == "expired"
    invoice = await pay.invoice(invoice_id)
    assert invoice["status"] == TO_PAY and invoice["paid_cents"] == 0
    # The invoice is free again for the family.
    assert "Payer la facture" in await pay.detail(invoice_id)
    row = await PaymentReview.select().first()
    assert row is not None
    assert row["decision"] == "closed" and row["comment"] == "La famille a payé au guichet."


async def test_the_dashboard_links_to_the_payments_in_review(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    dashboard = (await portal.client.get("/boe/gestion/")).text
    assert re.search(
        r'<a href="/boe/gestion/paiements/\?etat=review">Paiements à examiner</a>', dashboard
    )
    menu = re.findall(r'<a href="(/boe/gestion/[^"]*)"', dashboard)
    assert "/boe/gestion/paiements" in menu and "/boe/gestion/paiement-en-ligne" in menu
