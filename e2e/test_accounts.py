"""The parent's account journeys in a real browser, at desktop and phone sizes.

Each test that needs an account activates its own (a payer address per scenario and viewport,
seeded by the harness), so tests never depend on each other's passwords or addresses.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from core.mail.sink import MailSink
from e2e.journeys import (
    EMAIL_CHANGE_SUBJECT,
    EMAIL_CHANGED_SUBJECT,
    RESET_SUBJECT,
    Viewport,
    activate,
    assert_accessible,
    expect_logged_in_home,
    expect_login_failed,
    expect_login_page,
    expect_neutral_message,
    login,
    logout,
    mail_link,
    open_account_page,
    payer_address,
    request_activation,
    set_password_form,
    url,
    wait_for_mail,
)

pytestmark = pytest.mark.e2e

# Long enough for boe (12 characters), and not in the common-password list.
PASSWORD = "cantine du lundi matin"
NEW_PASSWORD = "garderie du mardi soir"


def test_activation_from_the_email_link(
    page: Page, server: str, mail_sink: MailSink, viewport: Viewport
) -> None:
    email = payer_address("activation", viewport.name)
    link = request_activation(page, server, mail_sink, email)

    page.goto(link)
    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()

    set_password_form(page, "trop court")
    expect(page.get_by_role("alert")).to_be_visible()
    password_field = page.get_by_label("Mot de passe", exact=True)
    expect(password_field).to_have_attribute("aria-invalid", "true")
    # The French error is shown and tied to the field for screen readers.
    expect(password_field).to_have_accessible_description(
        re.compile(r"doit contenir au moins 12 caractères")
    )
    expect(
        page.get_by_text("Le mot de passe doit contenir au moins 12 caractères.")
    ).to_be_visible()
    expect(page.get_by_role("navigation", name="Menu principal")).to_have_count(0)
    assert_accessible(page)  # the form with its error

    set_password_form(page, PASSWORD)
    expect_logged_in_home(page, server, info="activated")
    expect(page.get_by_role("status")).to_contain_text("Votre compte est activé")


def test_unknown_address_gets_the_same_answer_and_no_mail(
    page: Page, server: str, mail_sink: MailSink, viewport: Viewport
) -> None:
    email = payer_address("unknown", viewport.name)  # never seeded
    page.goto(url(server, "activation"))
    page.get_by_label("Adresse de messagerie").fill(email)
    page.get_by_role("button", name="Activation", exact=True).click()
    expect_neutral_message(page, server, "activation/envoyee")

    time.sleep(1.5)  # several rounds of the outbox sender (every 0.2 s)
    assert [m for m in mail_sink.messages if email in m.recipients] == []


def test_login_and_logout(page: Page, server: str, mail_sink: MailSink, viewport: Viewport) -> None:
    email = payer_address("login", viewport.name)
    activate(page, server, mail_sink, email, PASSWORD)
    logout(page, server)

    login(page, server, email, "pas le bon mot de passe")
    expect_login_failed(page, server)
    expect(page.get_by_label("Adresse de messagerie")).to_have_value(email)
    assert_accessible(page)

    login(page, server, email, PASSWORD)
    expect_logged_in_home(page, server)

    logout(page, server)
    expect(page.get_by_role("status")).to_be_visible()
    page.goto(url(server, "mes-informations"))
    expect_login_page(page, server)
    expect(page).to_have_url(url(server, "connexion"))


def _session_cookie(page: Page) -> dict:
    cookies = [c for c in page.context.cookies() if c["name"] == "portail_session"]
    assert len(cookies) == 1, cookies
    return dict(cookies[0])


def test_remember_me_sets_a_lasting_cookie(
    page: Page, server: str, mail_sink: MailSink, viewport: Viewport
) -> None:
    email = payer_address("remember", viewport.name)
    activate(page, server, mail_sink, email, PASSWORD)
    assert _session_cookie(page)["expires"] == -1  # activation opens a browser session
    page.context.clear_cookies()

    login(page, server, email, PASSWORD, remember=True)
    expect_logged_in_home(page, server)
    cookie = _session_cookie(page)
    assert cookie["path"] == "/boe/"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    thirty_days = 30 * 24 * 3600
    assert abs(cookie["expires"] - (time.time() + thirty_days)) < 3600, cookie

    page.context.clear_cookies()
    login(page, server, email, PASSWORD)
    expect_logged_in_home(page, server)
    assert _session_cookie(page)["expires"] == -1


def test_sessions_list_and_se_deconnecter_partout(
    page: Page, browser: Any, server: str, mail_sink: MailSink, viewport: Viewport
) -> None:
    email = payer_address("sessions", viewport.name)
    activate(page, server, mail_sink, email, PASSWORD)
    # The same parent on a second device, with "Se souvenir de moi".
    other = browser.new_context(locale="fr-FR", **viewport.options)
    try:
        other_page = other.new_page()
        login(other_page, server, email, PASSWORD, remember=True)
        expect_logged_in_home(other_page, server)

        open_account_page(page, server)
        sessions = page.get_by_role("region", name="Mes sessions")
        expect(sessions.get_by_role("listitem")).to_have_count(2)
        expect(sessions.get_by_text("Cet appareil")).to_have_count(1)
        expect(sessions.get_by_text("« Se souvenir de moi » (30 jours)")).to_have_count(1)
        assert_accessible(page)

        sessions.get_by_role("button", name="Se déconnecter partout").click()
        expect_login_page(page, server)
        expect(page.get_by_role("status")).to_contain_text("déconnecté sur tous vos appareils")

        other_page.goto(url(server, "factures"))
        expect_login_page(other_page, server)
        expect(other_page.get_by_role("status")).to_contain_text("Votre session a pris fin")
        assert_accessible(other_page)
    finally:
        other.close()


def test_forgotten_password(
    page: Page, server: str, mail_sink: MailSink, viewport: Viewport
) -> None:
    email = payer_address("reset", viewport.name)
    activate(page, server, mail_sink, email, PASSWORD)
    logout(page, server)

    page.get_by_role("link", name="Mot de passe oublié ?").click()
    expect(page).to_have_url(url(server, "mot-de-passe-oublie"))
    page.get_by_label("Adresse de messagerie").fill(email)
    page.get_by_role("button", name="Valider").click()
    expect_neutral_message(page, server, "mot-de-passe-oublie/envoye")

    link = mail_link(wait_for_mail(mail_sink, email, RESET_SUBJECT), server, "mot-de-passe")
    page.goto(link)
    expect(page.get_by_role("heading", name="Choisissez un nouveau mot de passe")).to_be_visible()
    set_password_form(page, NEW_PASSWORD)
    expect_logged_in_home(page, server, info="password_reset")
    logout(page, server)

    login(page, server, email, PASSWORD)
    expect_login_failed(page, server)

    page.goto(link)
    expect(page.get_by_role("heading", name="Ce lien n’est plus valide")).to_be_visible()
    expect(page.get_by_label("Mot de passe", exact=True)).to_have_count(0)

    login(page, server, email, NEW_PASSWORD)
    expect_logged_in_home(page, server)


def test_change_password_in_place(
    page: Page, server: str, mail_sink: MailSink, viewport: Viewport
) -> None:
    email = payer_address("password", viewport.name)
    activate(page, server, mail_sink, email, PASSWORD)
    open_account_page(page, server)

    section = page.get_by_role("region", name="Mon mot de passe")
    # A wrong old password: the section is answered in place with its error (htmx swaps 422).
    section.get_by_label("Ancien mot de passe", exact=True).fill("pas le bon mot de passe")
    section.get_by_label("Nouveau mot de passe", exact=True).fill(NEW_PASSWORD)
    section.get_by_label("Confirmation du nouveau mot de passe", exact=True).fill(NEW_PASSWORD)
    section.get_by_role("button", name="Changer le mot de passe").click()
    expect(section.get_by_role("alert")).to_contain_text("Le mot de passe n’a pas été changé")
    expect(section.get_by_label("Ancien mot de passe", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    assert_accessible(page)  # after the htmx swap of the section
    expect(page).to_have_url(url(server, "mes-informations"))

    section.get_by_label("Ancien mot de passe", exact=True).fill(PASSWORD)
    section.get_by_label("Nouveau mot de passe", exact=True).fill(NEW_PASSWORD)
    section.get_by_label("Confirmation du nouveau mot de passe", exact=True).fill(NEW_PASSWORD)
    with page.expect_response(url(server, "mes-informations/mot-de-passe")) as answer:
        section.get_by_role("button", name="Changer le mot de passe").click()
    assert answer.value.request.headers.get("hx-request") == "true"  # htmx, not a full post
    expect(section.get_by_role("status")).to_contain_text("Votre mot de passe a été modifié")
    expect(page).to_have_url(url(server, "mes-informations"))  # answered in place
    expect(section.get_by_label("Nouveau mot de passe", exact=True)).to_have_value("")
    # The change ended every session but gave this browser a fresh one.
    page.reload()
    expect(page).to_have_url(url(server, "mes-informations"))
    expect(page.get_by_role("navigation", name="Menu principal")).to_be_visible()

    logout(page, server)
    login(page, server, email, PASSWORD)
    expect_login_failed(page, server)
    login(page, server, email, NEW_PASSWORD)
    expect_logged_in_home(page, server)


def test_change_email(page: Page, server: str, mail_sink: MailSink, viewport: Viewport) -> None:
    old_email = payer_address("email", viewport.name)
    new_email = payer_address("email-new", viewport.name)
    activate(page, server, mail_sink, old_email, PASSWORD)
    open_account_page(page, server)

    section = page.get_by_role("region", name="Mon adresse de messagerie")
    expect(section).to_contain_text(old_email)
    section.get_by_label("Nouvelle adresse de messagerie").fill(new_email)
    section.get_by_label("Mot de passe actuel").fill(PASSWORD)
    with page.expect_response(url(server, "mes-informations/adresse")) as answer:
        section.get_by_role("button", name="Changer l’adresse mail").click()
    assert answer.value.request.headers.get("hx-request") == "true"  # htmx, not a full post
    expect(section.get_by_role("status")).to_contain_text("Un message de validation a été envoyé")
    expect(page).to_have_url(url(server, "mes-informations"))
    link = mail_link(wait_for_mail(mail_sink, new_email, EMAIL_CHANGE_SUBJECT), server, "adresse")

    # Until the link is followed, the old address is the one to log in with.
    logout(page, server)
    login(page, server, old_email, PASSWORD)
    expect_logged_in_home(page, server)

    page.goto(link)
    expect(page.get_by_text(new_email)).to_be_visible()
    page.get_by_role("button", name="Confirmer ma nouvelle adresse").click()
    expect(page).to_have_url(url(server, "mes-informations?info=email_changed"))
    expect(page.get_by_role("status").first).to_contain_text("nouvelle adresse")
    expect(page.get_by_role("region", name="Mon adresse de messagerie")).to_contain_text(new_email)

    notice = wait_for_mail(mail_sink, old_email, EMAIL_CHANGED_SUBJECT)
    assert new_email in notice.text
    assert "facturation@boe.example.org" in notice.text  # whom to call if it was not them

    logout(page, server)
    login(page, server, old_email, PASSWORD)
    expect_login_failed(page, server)
    login(page, server, new_email, PASSWORD)
    expect_logged_in_home(page, server)


def test_legacy_link_lands_on_the_commune(page: Page, server: str) -> None:
    page.goto(f"{server}/?LIEN=M470310001")
    expect(page).to_have_url(url(server))
    expect_login_page(page, server)
    expect(page.get_by_role("link", name="Activer mon compte")).to_be_visible()
