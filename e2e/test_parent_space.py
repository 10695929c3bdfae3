"""The parent's space in a real browser: message, invoices, PDF, contact, paper opt-out.

Each viewport uses its own address of the demo payer B-0002 (Famille Benali, imported from
examples/factures-boe.csv), so the two runs never share an account.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.mail.sink import MailSink
from e2e.conftest import Viewport
from e2e.journeys import (
    activate,
    assert_accessible,
    assert_fits_the_width,
    main_menu,
    url,
    wait_for_mail,
)

PASSWORD = "les enfants mangent à la cantine"
ADDRESSES = {"desktop": "y.benali@example.org", "phone": "s.benali@example.org"}

pytestmark = pytest.mark.e2e


def test_parent_space_journey(
    page: Page, server: str, mail_sink: MailSink, viewport: Viewport
) -> None:
    email = ADDRESSES[viewport.name]
    activate(page, server, mail_sink, email, PASSWORD)

    # The important message comes first, in a dialog; once closed it stays closed.
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("sera fermé du 24 décembre")
    assert_accessible(page)
    page.wait_for_load_state()  # htmx (a deferred script) closes it in place
    dialog.get_by_role("button", name="Fermer").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    # The keyboard focus stays where the message was, not at the top of the page.
    expect(page.locator("#important-message")).to_be_focused()
    expect(page.get_by_text("Nouveaux tarifs de la restauration scolaire")).to_be_visible()
    page.reload()
    expect(page.get_by_role("dialog")).to_have_count(0)

    # Mes factures: à régler by default, then the other tabs, switched in place.
    main_menu(page).get_by_role("link", name="Mes factures").click()
    expect(page).to_have_url(url(server, "factures"))
    expect(page.get_by_text(re.compile(r"Reste à payer : \d"))).to_be_visible()
    expect(page.get_by_role("link", name="CANT-2026-1002")).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)
    page.get_by_role("link", name=re.compile(r"^Réglées")).click()
    expect(page).to_have_url(url(server, "factures/reglees"))
    expect(page.get_by_role("link", name="Facture PERI-2026-0902", exact=True)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("PERI-2026-0902"))).to_contain_text(
        "Réglé par virement le 02/11/2026"
    )
    assert_accessible(page)
    page.get_by_role("link", name=re.compile(r"^En trésorerie")).click()
    expect(page).to_have_url(url(server, "factures/tresorerie"))
    expect(page.get_by_text("avis des sommes à payer").first).to_be_visible()
    page.get_by_role("link", name=re.compile(r"^À régler")).click()

    # Open an invoice in place, then download its PDF.
    page.get_by_role("link", name="CANT-2026-1002").click()
    expect(page.get_by_role("heading", name=re.compile("CANT-2026-1002"))).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Télécharger le PDF")).first.click()
    path = download_info.value.path()
    content = Path(path).read_bytes()
    assert content.startswith(b"%PDF") and b"CANT-2026-1002" in content

    # Contact: the message reaches the service, and the parent gets a copy.
    page.goto(url(server, "contact"))
    text = f"Bonjour, question sur la facture CANT-2026-1002 ({viewport.name})."
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Envoyer").click()
    expect(page.get_by_role("status")).to_contain_text("Votre message a été envoyé")
    assert_accessible(page)
    to_service = mail_sink.wait_for(
        lambda m: "facturation@boe.example.org" in m.recipients and text in m.text, timeout=15
    )
    assert email in to_service.text
    wait_for_mail(mail_sink, email, "")

    # Paper opt-out: a confirmation step, then the service is told.
    page.goto(url(server, "mes-informations"))
    assert_accessible(page)
    page.get_by_role("link", name="Ne pas recevoir les factures au format papier").click()
    page.get_by_role("button", name="Confirmer").click()
    expect(page.get_by_role("status")).to_contain_text("vous ne recevrez plus les factures")
    expect(
        page.get_by_role("link", name="Recevoir de nouveau les factures au format papier")
    ).to_be_visible()
    mail_sink.wait_for(
        lambda m: (
            "facturation@boe.example.org" in m.recipients
            and email in m.text
            and "papier" in (m.subject + m.text).lower()
        ),
        timeout=15,
    )
