"""The rows of "Mes factures" in a real browser (issue 9): the direct debit marked in "À régler",
how and when each invoice was paid in "Réglées", and tables whose dates, amounts and numbers
never break inside, with no sideways scrolling at 200 % zoom (640 CSS px) nor on a phone.

The payer of the "rows" scenario (e2e/journeys.py) has one invoice on direct debit still to
pay, and one paid in each mode.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from core.web.formatting import money
from e2e.conftest import Viewport
from e2e.journeys import (
    PAYMENT_PASSWORD,
    assert_accessible,
    expect_logged_in_home,
    login,
    main_menu,
    payment_payer,
    url,
)

pytestmark = pytest.mark.e2e

# Zoomed to 200 %, a 1280 px wide window is 640 CSS px wide; 976 px is the narrowest window
# that shows tables rather than cards (static/portail.css).
NARROW_WIDTHS = {"desktop": (640, 976), "phone": (390,)}

# The elements that must never break inside: dates, amounts, invoice numbers. Each one whose
# visible text boxes sit on more than one line is returned (a few pixels of tolerance).
BROKEN_TOKENS_JS = """() => Array.from(document.querySelectorAll(
        '.invoice-table .nowrap, .invoice-table tbody .num'))
    .filter(el => {
        const tops = [];
        const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (!node.textContent.trim() || node.parentElement.closest('.visually-hidden')) {
                continue;
            }
            const range = document.createRange();
            range.selectNodeContents(node);
            for (const rect of range.getClientRects()) {
                if (rect.width > 0) tops.push(rect.top);
            }
        }
        return tops.length > 0 && Math.max(...tops) - Math.min(...tops) > 3;
    })
    .map(el => el.textContent.trim())"""

OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"


def assert_tokens_whole_and_no_sideways_scroll(page: Page) -> None:
    expect(page.locator(".invoice-table tbody tr").first).to_be_visible()
    assert page.evaluate(BROKEN_TOKENS_JS) == [], page.viewport_size
    assert page.evaluate(OVERFLOW_JS) <= 0, page.viewport_size


def test_rows_say_direct_debit_and_how_each_invoice_was_paid(
    page: Page, server: str, viewport: Viewport
) -> None:
    payer = payment_payer("rows", viewport.name)
    debit, online, cheque, cash, card, debited, transfer = payer.invoices
    login(page, server, payer.email, PAYMENT_PASSWORD, commune=payer.commune)
    expect_logged_in_home(page, server, commune=payer.commune)
    paid_on = (dt.date.today() - dt.timedelta(days=1)).strftime("%d/%m/%Y")
    due_on = (dt.date.today() + dt.timedelta(days=30)).strftime("%d/%m/%Y")

    # À régler: the direct debit, marked in its row, with its date; nothing to pay online.
    main_menu(page).get_by_role("link", name="Mes factures").click()
    expect(page).to_have_url(url(server, "factures"))
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=debit.number))
    expect(row).to_contain_text(f"Prélèvement automatique le {due_on}")
    expect(row).to_contain_text("elle ne se paie pas en ligne")  # said to screen readers
    expect(row).not_to_contain_text("En retard")
    assert_tokens_whole_and_no_sideways_scroll(page)
    assert_accessible(page)
    page.get_by_role("link", name=debit.number).click()
    detail = page.locator("#invoice-detail")
    expect(detail).to_contain_text("Ma facture est en prélèvement automatique.")
    expect(detail.get_by_role("link", name="Payer la facture")).to_have_count(0)

    # Réglées: how and when, the reference the import gave, a PDF per row.
    page.get_by_role("link", name=re.compile(r"^Réglées")).click()
    expect(page).to_have_url(url(server, "factures/reglees"))
    expected = {
        online: [f"Réglé en ligne le {paid_on}", f"N° d’autorisation : {online.authorisation}"],
        cheque: [f"Réglé par chèque le {paid_on}", f"Référence : {cheque.authorisation}"],
        cash: [f"Réglé en espèces le {paid_on}"],
        card: [f"Réglé par carte le {paid_on}", f"Référence : {card.authorisation}"],
        debited: [f"Réglé par prélèvement le {paid_on}"],
        transfer: [f"Réglé par virement le {paid_on}", money(transfer.cents)],
    }
    for invoice, texts in expected.items():
        row = page.get_by_role("row").filter(
            has=page.get_by_role("link", name=f"Facture {invoice.number}", exact=True)
        )
        for text in texts:
            expect(row).to_contain_text(text)
        pdf = row.get_by_role(
            "link", name=f"Télécharger la facture n° {invoice.number} (PDF)", exact=True
        )
        expect(pdf).to_be_visible()
    assert_tokens_whole_and_no_sideways_scroll(page)
    assert_accessible(page)

    # A row's PDF link downloads that invoice (on a phone, above the card's own link).
    with page.expect_download() as download:
        page.get_by_role("link", name=f"Télécharger la facture n° {cheque.number} (PDF)").click()
    content = download.value.path().read_bytes()
    assert content.startswith(b"%PDF") and cheque.number.encode() in content

    # Narrower: 200 % zoom on a desktop, the narrowest table, the phone itself. Both tabs.
    for width in NARROW_WIDTHS[viewport.name]:
        page.set_viewport_size({"width": width, "height": 800})
        for tab in ("factures/reglees", "factures"):
            page.goto(url(server, tab))
            assert_tokens_whole_and_no_sideways_scroll(page)
        assert_accessible(page)
