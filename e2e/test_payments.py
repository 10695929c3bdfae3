"""Online payment in a real browser, at desktop and phone sizes, against the local simulator.

The portal (subprocess) and the PayFiP/TIPI simulator (another subprocess) talk over loopback:
the browser goes from the portal to the simulator's payment page and back, and the simulator
posts its notification to the portal's real URL. Nothing is mocked.

Each scenario has its own payer, account and invoices per viewport (`PAYMENT_SCENARIOS`, seeded
by the harness), so payments never share an invoice. Boé pays through PayFiP (with the basket),
Aure through TIPI.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from core.mail.sink import MailSink, ReceivedMail
from core.web.formatting import money
from e2e.conftest import Simulator
from e2e.journeys import (
    ACCEPTED_CARD,
    PAYMENT_PASSWORD,
    RECEIPT_SUBJECT,
    REFUSED_CARD,
    PaymentPayer,
    SeededInvoice,
    Viewport,
    assert_accessible,
    assert_fields_labelled,
    assert_fits_the_width,
    expect_logged_in_home,
    login,
    main_menu,
    payment_payer,
    url,
    wait_for_mail,
)

pytestmark = pytest.mark.e2e

SIMULATOR_HEADING = "Bienvenue sur la solution de paiement de la DGFIP"
NUMCLI = {"CANT": "004200", "PERI": "004201", "MULTI": "001964"}
REGIE_NAMES = {
    "CANT": "Restauration scolaire",
    "PERI": "Garderie et périscolaire",
    "MULTI": "Multi Services",
}
# How long a result page may take to update itself (it polls every 2 s; a check of the
# service is made at most every 3 s).
POLLING_TIMEOUT_MS = 20_000


# --- Steps ---------------------------------------------------------------------------------


def log_in(page: Page, server: str, payer: PaymentPayer) -> None:
    login(page, server, payer.email, PAYMENT_PASSWORD, commune=payer.commune)
    expect_logged_in_home(page, server, commune=payer.commune)


def menu(page: Page, label: str) -> None:
    main_menu(page).get_by_role("link", name=label, exact=True).click()


def open_invoice(page: Page, server: str, payer: PaymentPayer, invoice: SeededInvoice) -> None:
    """From "Mes factures" (tab "À régler"), open the invoice in place."""
    menu(page, "Mes factures")
    expect(page).to_have_url(url(server, "factures", payer.commune))
    page.get_by_role("link", name=invoice.number).click()
    expect(page.get_by_role("heading", name=f"Facture n° {invoice.number}")).to_be_visible()
    expect(fact(page.locator("#invoice-detail"), "État")).to_have_text("À régler")


def choose_to_pay(page: Page, server: str, payer: PaymentPayer, invoice: SeededInvoice) -> None:
    """From the invoice's detail, "Payer la facture", then only this invoice in the basket."""
    open_invoice(page, server, payer, invoice)
    page.get_by_role("link", name="Payer la facture").click()
    select_in_basket(page, server, payer, [invoice])


def fact(scope: Page | Locator, term: str) -> Locator:
    """The value (`dd`) of a fact of a description list, found by its term (`dt`)."""
    return scope.get_by_text(term, exact=True).locator("xpath=following-sibling::dd[1]")


def basket(page: Page, regie: str) -> Locator:
    """The basket's form of a régie, on the selection page."""
    return page.get_by_role("region", name=REGIE_NAMES[regie])


def expect_basket(page: Page, regie: str, count: int, cents: int) -> None:
    """The live summary of a régie's selection (updated in place by htmx)."""
    form = basket(page, regie)
    expect(form.get_by_text(re.compile(r"^Nombre de factures :"))).to_have_text(
        f"Nombre de factures : {count}"
    )
    expect(form.get_by_text(re.compile(r"^Montant à régler :"))).to_have_text(
        f"Montant à régler : {money(cents)}"
    )


def select_in_basket(
    page: Page, server: str, payer: PaymentPayer, chosen: list[SeededInvoice]
) -> None:
    """On the selection page the invoice came from (already ticked), tick the others of
    `chosen`, check the live summary, then go on to the summary page."""
    expect(page).to_have_url(
        re.compile(re.escape(url(server, "paiement/selection?facture=", payer.commune)) + r"\d+$")
    )
    expect(page.get_by_role("heading", name="Payer mes factures", level=1)).to_be_visible()
    assert_fields_labelled(page)
    assert_fits_the_width(page)
    regie = chosen[0].regie
    form = basket(page, regie)
    first, others = chosen[0], chosen[1:]
    expect(form.get_by_label(f"Payer la facture {first.number}")).to_be_checked()
    expect_basket(page, regie, 1, first.cents)
    for invoice in payer.invoices:
        if invoice not in chosen and invoice.regie == regie:
            expect(form.get_by_label(f"Payer la facture {invoice.number}")).not_to_be_checked()
    for count, invoice in enumerate(others, start=2):
        form.get_by_label(f"Payer la facture {invoice.number}").check()
        expect_basket(page, regie, count, sum(i.cents for i in chosen[:count]))
    assert_accessible(page)
    form.get_by_role("button", name="Continuer vers le paiement").click()


def expect_summary(
    page: Page, payer: PaymentPayer, chosen: list[SeededInvoice], provider: str = "PayFiP"
) -> None:
    """The "Informations pour le paiement" page of the chosen invoices."""
    section = page.get_by_role("region", name=f"Informations pour le paiement {provider}")
    expect(section).to_be_visible()
    expect(fact(section, "Régie")).to_have_text(REGIE_NAMES[chosen[0].regie])
    expect(fact(section, "Identifiant collectivité")).to_have_text(NUMCLI[chosen[0].regie])
    expect(fact(section, "Montant du règlement")).to_have_text(money(sum(i.cents for i in chosen)))
    expect(fact(section, "Références des factures")).to_have_text(
        ", ".join(i.number for i in chosen)
    )
    expect(fact(section, "Reçu envoyé à")).to_have_text(payer.email)
    assert_fits_the_width(page)


def go_to_payment_page(page: Page, cents: int) -> None:
    """ "Payer X €" on the summary: the same tab goes to the simulator's payment page."""
    page.get_by_role("button", name=f"Payer {money(cents)}").click()
    expect(page.get_by_role("heading", name=SIMULATOR_HEADING)).to_be_visible()
    expect(page.get_by_text("Attention il s'agit d'un paiement de test.")).to_be_visible()


def pay_by_card(page: Page, card: str) -> None:
    page.get_by_label("Numéro de carte").fill(card)
    page.get_by_role("button", name="Payer par carte bancaire").click()


def result_url(server: str, commune: str) -> re.Pattern[str]:
    return re.compile(re.escape(url(server, "paiement/", commune)) + r"([A-Z0-9]{20})$")


def expect_result(page: Page, server: str, state: str, *, commune: str = "boe") -> str:
    """The result page shows `state` ("Paiement accepté"...); returns the attempt's refdet."""
    pattern = result_url(server, commune)
    expect(page).to_have_url(pattern)
    expect(page.get_by_role("heading", name=state, level=2)).to_be_visible()
    assert_fits_the_width(page)
    found = pattern.match(page.url)
    assert found, page.url
    return found.group(1)


def expect_paid(page: Page, cents: int, *, by_direct_debit: bool = False) -> None:
    status = page.get_by_role("region", name="Paiement accepté")
    mode = "paiement par prélèvement" if by_direct_debit else "paiement par carte bancaire"
    expect(status).to_contain_text(f"votre paiement de {money(cents)} est accepté ({mode})")
    expect(page.get_by_role("link", name="Télécharger le reçu (PDF)")).to_be_visible()


def download_receipt(page: Page) -> bytes:
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Télécharger le reçu (PDF)").click()
    content = Path(download_info.value.path()).read_bytes()
    assert content.startswith(b"%PDF"), content[:20]
    return content


def squash(text: str) -> str:
    """Spaces, non-breaking ones included, as single plain spaces."""
    return " ".join(text.split())


def wait_for_receipt(mail_sink: MailSink, payer: PaymentPayer, cents: int) -> ReceivedMail:
    mail = wait_for_mail(mail_sink, payer.email, RECEIPT_SUBJECT)
    expected = f"{RECEIPT_SUBJECT} {money(cents)} – Ville de Boé"
    assert squash(mail.subject) == squash(expected), mail.subject
    return mail


def assert_in_mail(mail: ReceivedMail, *lines: str) -> None:
    text = squash(mail.text)
    for line in lines:
        assert squash(line) in text, f"{line!r} not in the message {mail.subject!r}:\n{mail.text}"


def receipts_to(mail_sink: MailSink, payer: PaymentPayer) -> list[ReceivedMail]:
    return [
        m
        for m in mail_sink.messages
        if payer.email in m.recipients and RECEIPT_SUBJECT in m.subject
    ]


def expect_settled(
    page: Page,
    server: str,
    invoices: list[SeededInvoice],
    authorisation: str,
    means: str = "par carte",
) -> None:
    """The invoices are in "Réglées", paid online (by card, or `means`) with the authorisation
    number and a link to the receipt."""
    page.get_by_role("link", name="Voir mes factures réglées").click()
    expect(page).to_have_url(url(server, "factures/reglees"))
    for invoice in invoices:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=invoice.number))
        expect(row).to_contain_text(f"Réglé en ligne {means} le ")
        expect(row).to_contain_text(authorisation)
        expect(
            row.get_by_role("link", name=f"Reçu du paiement de la facture n° {invoice.number}")
        ).to_be_visible()
        expect(row).to_contain_text(money(invoice.cents))
    assert_fits_the_width(page)


def paid_operation(simulator: Simulator, refdet: str, code: str) -> dict[str, Any]:
    """The simulator's operation, settled with `code`, and told to the portal once."""
    operation = simulator.operation(refdet)
    assert operation["resultrans"] == code, operation
    assert operation["notifications"] == 1, operation
    return operation


# --- Journeys ------------------------------------------------------------------------------


def test_pay_one_invoice_by_card(
    page: Page, server: str, mail_sink: MailSink, simulator: Simulator, viewport: Viewport
) -> None:
    payer = payment_payer("card", viewport.name)
    invoice = payer.invoices[0]
    log_in(page, server, payer)
    open_invoice(page, server, payer, invoice)

    assert_accessible(page)  # the detail, opened in place
    page.get_by_role("link", name="Payer la facture").click()
    select_in_basket(page, server, payer, [invoice])
    expect_summary(page, payer, [invoice])
    assert_accessible(page)
    go_to_payment_page(page, invoice.cents)
    expect(page.get_by_text(money(invoice.cents).replace("\u00a0", " "))).to_be_visible()
    pay_by_card(page, ACCEPTED_CARD)

    refdet = expect_result(page, server, "Paiement accepté")
    expect_paid(page, invoice.cents)
    assert_accessible(page)
    operation = paid_operation(simulator, refdet, "P")
    authorisation = operation["numauto"]
    expect(fact(page, "Identifiant collectivité")).to_have_text("004200")
    expect(fact(page, "Factures")).to_have_text(invoice.number)
    expect(page.get_by_text(authorisation, exact=True)).to_be_visible()
    # The notification reached the portal (a real POST on loopback, answered 200).
    notified = [n for n in simulator.notifications() if n["idop"] == operation["idop"]]
    assert [n["error"] for n in notified] == [None], notified

    receipt = download_receipt(page)
    assert refdet.encode() in receipt and invoice.number.encode() in receipt
    mail = wait_for_receipt(mail_sink, payer, invoice.cents)
    assert_in_mail(
        mail,
        f"Facture {invoice.number} : {money(invoice.cents)}",
        f"Référence de la transaction : {refdet}",
        f"N° d’autorisation : {authorisation}",
        "Mode de paiement : carte bancaire",
        url(server, f"paiement/{refdet}"),
    )

    expect_settled(page, server, [invoice], authorisation)
    assert_accessible(page)
    # The other invoices are still to pay.
    page.get_by_role("link", name=re.compile(r"^À régler")).click()
    for other in payer.invoices[1:]:
        expect(page.get_by_role("link", name=other.number)).to_be_visible()
    expect(page.get_by_role("link", name=invoice.number)).to_have_count(0)


def test_pay_a_basket_of_two_invoices(
    page: Page, server: str, mail_sink: MailSink, simulator: Simulator, viewport: Viewport
) -> None:
    payer = payment_payer("basket", viewport.name)
    first, second, other_regie = payer.invoices
    total = first.cents + second.cents
    log_in(page, server, payer)
    open_invoice(page, server, payer, first)

    page.get_by_role("link", name="Payer la facture").click()
    # One form per régie; the other régie's selection stays empty.
    expect_basket(page, other_regie.regie, 0, 0)
    select_in_basket(page, server, payer, [first, second])
    expect_summary(page, payer, [first, second])
    go_to_payment_page(page, total)
    pay_by_card(page, ACCEPTED_CARD)

    refdet = expect_result(page, server, "Paiement accepté")
    expect_paid(page, total)
    expect(fact(page, "Factures")).to_have_text(f"{first.number}, {second.number}")
    authorisation = paid_operation(simulator, refdet, "P")["numauto"]

    mail = wait_for_receipt(mail_sink, payer, total)
    assert_in_mail(
        mail,
        f"Facture {first.number} : {money(first.cents)}",
        f"Facture {second.number} : {money(second.cents)}",
        f"Montant du règlement : {money(total)}",
    )
    assert len(receipts_to(mail_sink, payer)) == 1  # one payment, one receipt

    expect_settled(page, server, [first, second], authorisation)
    page.get_by_role("link", name=re.compile(r"^À régler")).click()
    expect(page.get_by_role("link", name=other_regie.number)).to_be_visible()


def test_refused_card_then_paid(
    page: Page, server: str, mail_sink: MailSink, simulator: Simulator, viewport: Viewport
) -> None:
    payer = payment_payer("refused", viewport.name)
    (invoice,) = payer.invoices
    log_in(page, server, payer)
    choose_to_pay(page, server, payer, invoice)
    go_to_payment_page(page, invoice.cents)
    pay_by_card(page, REFUSED_CARD)

    refused = expect_result(page, server, "Paiement refusé")
    expect(page.get_by_text("Le paiement a été refusé par votre banque")).to_be_visible()
    expect(page.get_by_role("link", name="Télécharger le reçu (PDF)")).to_have_count(0)
    assert simulator.operation(refused)["resultrans"] == "R"

    page.get_by_role("link", name="Payer de nouveau").click()
    expect_summary(page, payer, [invoice])
    go_to_payment_page(page, invoice.cents)
    pay_by_card(page, ACCEPTED_CARD)

    paid = expect_result(page, server, "Paiement accepté")
    assert paid != refused  # a new attempt, with its own reference
    expect_paid(page, invoice.cents)
    authorisation = paid_operation(simulator, paid, "P")["numauto"]
    wait_for_receipt(mail_sink, payer, invoice.cents)
    assert len(receipts_to(mail_sink, payer)) == 1
    expect_settled(page, server, [invoice], authorisation)


def test_abandoned_payment_leaves_the_invoice_to_pay(
    page: Page, server: str, simulator: Simulator, viewport: Viewport
) -> None:
    payer = payment_payer("abandon", viewport.name)
    (invoice,) = payer.invoices
    log_in(page, server, payer)
    choose_to_pay(page, server, payer, invoice)
    expect_summary(page, payer, [invoice])  # the PERI régie: its own numcli
    go_to_payment_page(page, invoice.cents)
    page.get_by_role("button", name="Annuler", exact=True).click()

    refdet = expect_result(page, server, "Paiement abandonné")
    expect(page.get_by_text("Vous avez abandonné le paiement")).to_be_visible()
    assert simulator.operation(refdet)["resultrans"] == "A"

    # "Mes paiements" lists it...
    menu(page, "Mes paiements")
    expect(page).to_have_url(url(server, "paiements"))
    row = page.get_by_role("row").filter(has_text=invoice.number)
    expect(row).to_contain_text("Paiement abandonné")
    expect(row).to_contain_text(money(invoice.cents))
    assert_fits_the_width(page)

    # ...and the invoice is still to pay, held a few minutes: PayFiP may still complete the
    # operation (then the re-check settles it); after that it is payable again
    # (tests/integration/test_trust_payments.py).
    open_invoice(page, server, payer, invoice)
    expect(page.get_by_text("est en cours de traitement").first).to_be_visible()
    expect(page.get_by_role("link", name="Payer la facture")).to_have_count(0)


def test_pay_by_direct_debit(
    page: Page, server: str, mail_sink: MailSink, simulator: Simulator, viewport: Viewport
) -> None:
    payer = payment_payer("debit", viewport.name)
    (invoice,) = payer.invoices
    log_in(page, server, payer)
    choose_to_pay(page, server, payer, invoice)
    go_to_payment_page(page, invoice.cents)
    page.get_by_role("button", name="Prélèvement accepté").click()

    refdet = expect_result(page, server, "Paiement accepté")
    expect_paid(page, invoice.cents, by_direct_debit=True)
    authorisation = paid_operation(simulator, refdet, "V")["numauto"]
    mail = wait_for_receipt(mail_sink, payer, invoice.cents)
    assert_in_mail(mail, "Mode de paiement : prélèvement")
    expect_settled(page, server, [invoice], authorisation, "par prélèvement")


def test_tipi_payment_is_declared_until_confirmed(
    page: Page, server: str, simulator: Simulator, viewport: Viewport
) -> None:
    payer = payment_payer("tipi", viewport.name)
    invoice, other = payer.invoices
    log_in(page, server, payer)
    open_invoice(page, server, payer, invoice)

    # No basket in Aure: straight to the summary.
    page.get_by_role("link", name="Payer la facture").click()
    expect(page).to_have_url(
        re.compile(re.escape(url(server, "paiement?facture=", "aure")) + r"\d+$")
    )
    expect_summary(page, payer, [invoice], provider="TIPI")
    go_to_payment_page(page, invoice.cents)
    expect(page.get_by_role("button", name="Prélèvement accepté")).to_have_count(0)
    pay_by_card(page, ACCEPTED_CARD)

    # TIPI sends the browser back with a POST form that submits itself.
    pattern = result_url(server, "aure")
    try:
        page.wait_for_url(pattern, timeout=5_000)
    except PlaywrightTimeoutError:
        page.get_by_role("button", name="Retour au site").click()
    refdet = expect_result(page, server, "Paiement déclaré, à confirmer", commune="aure")
    expect(page.get_by_text("Ce paiement sera confirmé par le service facturation")).to_be_visible()
    expect(page.get_by_role("link", name="Télécharger le reçu (PDF)")).to_have_count(0)
    tipi = [op for op in simulator.operations() if op["refdet"] == refdet]
    assert [(op["kind"], op["resultrans"]) for op in tipi] == [("tipi", "P")], tipi

    # Still to pay (the return is not signed: the next import confirms it), not payable again.
    open_invoice(page, server, payer, invoice)
    detail = page.locator("#invoice-detail")
    expect(detail.get_by_text("le paiement doit encore être confirmé")).to_be_visible()
    expect(detail.get_by_role("link", name="Payer la facture")).to_have_count(0)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=invoice.number))
    expect(row).to_contain_text("Paiement déclaré")
    # The other invoice still is.
    page.get_by_role("link", name=other.number).click()
    expect(page.get_by_role("heading", name=f"Facture n° {other.number}")).to_be_visible()
    expect(
        page.locator("#invoice-detail").get_by_role("link", name="Payer la facture")
    ).to_be_visible()


def test_lost_notification_result_page_updates_itself(
    page: Page, server: str, mail_sink: MailSink, simulator: Simulator, viewport: Viewport
) -> None:
    payer = payment_payer("lost", viewport.name)
    (invoice,) = payer.invoices
    # No notification, and the service does not know the result yet when the browser comes
    # back (P5): only the result page's own polling can find it out. The fault names this
    # operation, so a background re-check of another payment cannot take it.
    simulator.configure(notifications="lose")
    log_in(page, server, payer)
    choose_to_pay(page, server, payer, invoice)
    go_to_payment_page(page, invoice.cents)
    idop = parse_qs(urlsplit(page.url).query)["idop"][0]
    simulator.configure(
        fault_queue=[{"code": "P5", "operation": "recupererDetailPaiementSecurise", "idop": idop}],
    )
    pay_by_card(page, ACCEPTED_CARD)

    refdet = expect_result(page, server, "Paiement en cours de traitement")
    expect(page.get_by_text("cette page se met à jour toute seule")).to_be_visible()
    page.evaluate("() => { window.e2eSamePage = true; }")  # gone if the page is reloaded
    expect(page.get_by_role("heading", name="Paiement accepté", level=2)).to_be_visible(
        timeout=POLLING_TIMEOUT_MS
    )
    assert page.evaluate("() => window.e2eSamePage === true"), "the page was reloaded"
    expect_paid(page, invoice.cents)

    operation = simulator.operation(refdet)
    assert operation["notification_lost"] is True and operation["notifications"] == 0, operation
    wait_for_receipt(mail_sink, payer, invoice.cents)
    expect_settled(page, server, [invoice], operation["numauto"])


# The focused checkbox (else None), or whether a basket's bar that stays at the screen's bottom
# covers it (False: in full view).
HIDDEN_BY_A_BAR = """() => {
  const box = document.activeElement;
  if (!box || box.type !== 'checkbox') return null;
  const r = box.getBoundingClientRect();
  if (r.top < 0 || r.bottom > innerHeight) return `off screen: ${r.top}-${r.bottom}`;
  for (const bar of document.querySelectorAll('.basket__bar')) {
    const b = bar.getBoundingClientRect();
    if (r.bottom > b.top && r.top < b.bottom) return `${box.id} under a bar`;
  }
  return false;
}"""


def test_the_ticked_group_comes_first_on_a_phone(
    page: Page, server: str, viewport: Viewport
) -> None:
    """After "Payer la facture", the ticked invoice's group starts on the first screen and its
    "Continuer vers le paiement" is the first in reading order; it leads to that invoice's
    summary (the first one used to be another régie's, which answered "Sélectionnez au moins
    une facture à payer.")."""
    payer = payment_payer("order", viewport.name)
    canteen = payer.invoices[-1]
    log_in(page, server, payer)
    open_invoice(page, server, payer, canteen)
    page.get_by_role("link", name="Payer la facture").click()
    expect(basket(page, "CANT").get_by_label(f"Payer la facture {canteen.number}")).to_be_checked()
    first = page.get_by_role("button", name="Continuer vers le paiement").first
    expect(first).to_be_visible()
    own = basket(page, "CANT").get_by_role("button", name="Continuer vers le paiement")
    assert own.evaluate("(own, first) => own === first", first.element_handle())
    # The page as it opened: the group starts on the first screen (it started below 1 200 px).
    assert page.evaluate("() => window.scrollY") == 0
    heading = basket(page, "CANT").get_by_role("heading", name=REGIE_NAMES["CANT"])
    bounds = heading.bounding_box()
    screen = page.viewport_size
    assert bounds is not None and screen is not None
    assert bounds["y"] + bounds["height"] <= screen["height"], (bounds, screen)
    # Its "Continuer vers le paiement" too, with the group's total, without scrolling (on a
    # phone a bar that stays at the bottom of the screen while the group is in view), and a
    # 44 px target.
    button = own.bounding_box()
    assert button is not None
    assert button["y"] >= 0 and button["y"] + button["height"] <= screen["height"], button
    assert button["height"] >= 44 and button["width"] >= 44, button
    total = basket(page, "CANT").locator(".basket__total").bounding_box()
    assert total is not None and total["y"] + total["height"] <= screen["height"], total
    # At the group's end the bar is back in the flow, below the last invoice (covers nothing).
    last = basket(page, "CANT").get_by_role("row").last
    last.scroll_into_view_if_needed()
    page.evaluate("() => window.scrollBy(0, 2000)")
    rows_end = last.bounding_box()
    bar = own.bounding_box()
    assert rows_end is not None and bar is not None
    assert bar["y"] >= rows_end["y"] + rows_end["height"], (bar, rows_end)
    # From the top, Tab through the boxes: each scrolls clear of the bars (none hides it).
    page.evaluate("() => window.scrollTo(0, 0)")
    boxes = 0
    for _ in range(30):
        page.keyboard.press("Tab")
        hidden = page.evaluate(HIDDEN_BY_A_BAR)
        assert hidden is None or hidden is False, hidden
        boxes += hidden is False
        if boxes == 4:  # the canteen's and the garderie's, the last one at the screen's foot
            break
    assert boxes == 4, boxes
    page.evaluate("() => window.scrollTo(0, 0)")
    assert_accessible(page)
    first.click()
    expect_summary(page, payer, [canteen])

    # Back, and "Continuer" in the garderie's group, where nothing is ticked: the error names
    # the régie, comes first and leads to the group, now first, which says it again.
    page.go_back()
    basket(page, "PERI").get_by_role("button", name="Continuer vers le paiement").click()
    message = f"Sélectionnez au moins une facture de la régie « {REGIE_NAMES['PERI']} » à payer."
    expect(page).to_have_title(re.compile(r"^Erreur – "))
    expect(page.get_by_role("alert")).to_have_text(message)
    expect(basket(page, "PERI").get_by_text(message)).to_be_visible()
    assert_accessible(page)
    page.get_by_role("alert").get_by_role("link").click()
    expect(basket(page, "PERI")).to_be_focused()
    box = basket(page, "PERI").get_by_label(f"Payer la facture {payer.invoices[0].number}")
    expect(box).to_have_accessible_description(re.compile(re.escape(message) + "$"))
    box.check()
    basket(page, "PERI").get_by_role("button", name="Continuer vers le paiement").click()
    expect_summary(page, payer, [payer.invoices[0]])


def test_settled_tab_fits_the_screen(page: Page, server: str, viewport: Viewport) -> None:
    """Where paid invoices land, with their authorisation numbers: nothing wider than the screen."""
    payer = payment_payer("settled", viewport.name)
    log_in(page, server, payer)
    menu(page, "Mes factures")
    page.get_by_role("link", name=re.compile(r"^Réglées")).click()
    expect(page).to_have_url(url(server, "factures/reglees"))
    for invoice in payer.invoices:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=invoice.number))
        expect(row).to_contain_text("Réglé en ligne le ")  # imported: no payment of the portal
        expect(row).to_contain_text(invoice.authorisation)
    assert_fits_the_width(page)
