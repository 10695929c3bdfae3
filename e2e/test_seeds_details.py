"""The seeds' details in a real browser, at desktop and phone sizes, checked by axe-core: the news
on the login page, the account holder's name in the header and the home page's welcome, the
payment's step indicator, and the news by e-mail (the opt-in, an agent's sending, the
unsubscribe page reached from the mail without logging in).

The login page and the demo's news are shared with the other tests: nothing here changes them,
except one news item per size, published and sent by e-mail, then deleted.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from core.demo_accounts import DEMO_PASSWORD
from core.mail.sink import MailSink
from e2e.backoffice import agent_address, signed_in_agent
from e2e.conftest import Simulator
from e2e.journeys import (
    ACCEPTED_CARD,
    HOME_HEADING,
    MAIL_TIMEOUT,
    Viewport,
    activate,
    assert_accessible,
    assert_fits_the_width,
    login,
    main_menu,
    payer_address,
    payment_payer,
    url,
)
from e2e.test_payments import expect_result, go_to_payment_page, log_in, pay_by_card

pytestmark = pytest.mark.e2e

PASSWORD = "les actualités arrivent par courriel"
STEPS = ["Sélection", "Récapitulatif", "Paiement sécurisé", "Résultat"]


def expect_step(page: Page, current: str) -> None:
    """The step indicator lists the four steps, `current` marked for screen readers."""
    steps = page.get_by_role("navigation", name="Étapes du paiement")
    expect(steps.get_by_role("listitem")).to_have_count(4)
    for index, label in enumerate(STEPS):
        expect(steps.get_by_role("listitem").nth(index)).to_contain_text(label)
    expect(steps.locator('[aria-current="step"]')).to_have_count(1)
    expect(steps.locator('[aria-current="step"]')).to_contain_text(current)


def test_the_login_page_shows_the_news_and_the_important_message(
    page: Page, server: str, viewport: Viewport
) -> None:
    page.goto(url(server))
    expect(page.get_by_role("heading", name="Le portail des factures", level=1)).to_be_visible()
    message = page.get_by_role("region", name=re.compile("Message du service|Information"))
    expect(message.first).to_contain_text("sera fermé du 24 décembre")
    news = page.get_by_role("region", name="Actualités")
    expect(news.get_by_role("heading", level=3).first).to_be_visible()
    expect(news).to_contain_text("Nouveaux tarifs de la restauration scolaire")
    expect(page.get_by_role("button", name="Fermer")).to_have_count(0)  # nothing to close
    # The form comes first in reading order (and on a phone, first on the screen).
    form_box = page.get_by_role("button", name="Connexion", exact=True).bounding_box()
    news_box = news.bounding_box()
    assert form_box and news_box
    if viewport.name == "phone":
        assert form_box["y"] < news_box["y"]
    assert_fits_the_width(page)
    assert_accessible(page)


def test_the_header_names_the_account_holder_and_home_welcomes(
    page: Page, server: str, viewport: Viewport
) -> None:
    login(page, server, "claire.martin@example.org", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name=HOME_HEADING, level=1)).to_be_visible()
    holder = page.locator(".site-header .account-holder")
    expect(holder).to_be_visible()
    expect(holder).to_contain_text("Famille Martin")
    expect(holder).to_contain_text("Compte de")  # said to screen readers, hidden on screen
    welcome = page.locator(".welcome-list")
    expect(welcome.get_by_role("listitem")).to_have_count(4)
    expect(welcome).to_contain_text("payer vos factures en ligne en toute sécurité")
    assert_fits_the_width(page)
    assert_accessible(page)
    main_menu(page).get_by_role("link", name="Mes factures").click()
    expect(page.locator(".site-header .account-holder")).to_contain_text("Famille Martin")


def test_the_payment_pages_say_which_step_the_parent_is_at(
    page: Page, server: str, simulator: Simulator, viewport: Viewport
) -> None:
    payer = payment_payer("steps", viewport.name)
    (invoice,) = payer.invoices
    log_in(page, server, payer)
    page.goto(url(server, "factures"))
    page.get_by_role("link", name=invoice.number).click()
    page.get_by_role("link", name="Payer la facture").click()
    expect_step(page, "Sélection")
    assert_accessible(page)
    page.get_by_role("button", name="Continuer vers le paiement").first.click()

    expect_step(page, "Récapitulatif")
    summary = page.get_by_role("region", name="Informations pour le paiement PayFiP")
    expect(summary).to_contain_text(
        "Si vous avez déjà réglé cette facture (chèque, espèces…), merci de ne pas tenir "
        "compte de ce paiement en ligne."
    )
    expect(summary).to_contain_text("par carte bancaire ou par prélèvement")
    assert_fits_the_width(page)
    assert_accessible(page)

    go_to_payment_page(page, invoice.cents)
    pay_by_card(page, ACCEPTED_CARD)
    expect_result(page, server, "Paiement accepté")
    expect_step(page, "Résultat")
    assert_accessible(page)


def test_the_tipi_summary_promises_no_prelevement(
    page: Page, server: str, viewport: Viewport
) -> None:
    """Aure pays through TIPI, which offers no prélèvement (and has no basket: the summary
    comes straight after "Payer la facture"). Only the summary is opened: nothing is paid."""
    payer = payment_payer("tipi", viewport.name)
    log_in(page, server, payer)
    invoice = payer.invoices[1]
    page.goto(url(server, "factures", payer.commune))
    page.get_by_role("link", name=invoice.number).click()
    page.get_by_role("link", name="Payer la facture").click()
    expect_step(page, "Récapitulatif")
    summary = page.get_by_role("region", name="Informations pour le paiement TIPI")
    expect(summary).to_contain_text("Vous y payez par carte bancaire.")
    expect(summary).not_to_contain_text("prélèvement")
    assert_fits_the_width(page)
    assert_accessible(page)


def test_news_by_email_opt_in_sending_and_unsubscribe(
    page: Page, server_process: object, mail_sink: MailSink, viewport: Viewport
) -> None:
    base_url = server_process.base_url  # type: ignore[attr-defined]
    email = payer_address("news", viewport.name)
    activate(page, base_url, mail_sink, email, PASSWORD)
    if page.get_by_role("dialog").count():
        page.get_by_role("dialog").get_by_role("button", name="Fermer").click()

    # The opt-in, in "Mes informations" (answered in place by htmx).
    page.goto(url(base_url, "mes-informations"))
    section = page.locator("#news-alerts-section")
    section.get_by_role("button", name="Recevoir les actualités par e-mail").click()
    expect(page.locator("#news-alerts-section").get_by_role("status")).to_contain_text(
        "vous recevrez les actualités par e-mail"
    )
    expect(
        page.get_by_role("button", name="Ne plus recevoir les actualités par e-mail")
    ).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)

    # An agent writes, publishes and sends a news item (once).
    title = f"Fermeture exceptionnelle ({viewport.name})"
    signed_in_agent(
        page, server_process, mail_sink, agent_address("news", viewport.name), "gestionnaire"
    )
    page.goto(url(base_url, "gestion/actualites/nouvelle"))
    page.get_by_label("Titre").fill(title)
    page.get_by_label("Texte").fill("Le service facturation sera fermé vendredi.")
    page.get_by_role("button", name="Enregistrer").click()
    page.get_by_role("button", name="Publier").click()
    send = page.get_by_role("button", name="Envoyer par e-mail aux familles abonnées")
    send.click()
    expect(page.get_by_text("L’actualité est envoyée par e-mail")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Envoyée par e-mail le .* à \d+ adresse"))).to_be_visible()
    expect(send).to_have_count(0)

    mail = mail_sink.wait_for(
        lambda m: email in m.recipients and title in m.subject, timeout=MAIL_TIMEOUT
    )
    assert "Le service facturation sera fermé vendredi." in mail.text
    link = re.search(r"https?://\S+/actualites/desabonnement/\d+/[0-9a-f]+", mail.text)
    assert link, mail.text
    # The same link for the mail client's own "Se désabonner" (RFC 8058 one-click).
    assert mail.header("List-Unsubscribe") == [f"<{link.group(0)}>"]
    assert mail.header("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]

    # The item is withdrawn again: the login page of the other tests stays the demo's.
    page.get_by_text("Supprimer l’actualité", exact=True).click()
    page.get_by_role("button", name="Confirmer la suppression").click()
    expect(page.get_by_text("L’actualité est supprimée.")).to_be_visible()

    # The link of the mail, from a browser signed in nowhere: one button, then done.
    page.context.clear_cookies()
    page.goto(link.group(0))
    expect(page.get_by_role("heading", name="Actualités par e-mail", level=1)).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)
    page.get_by_role("button", name="Me désabonner").click()
    expect(page.get_by_role("status")).to_contain_text("ne seront plus envoyées par e-mail")
    assert_accessible(page)
