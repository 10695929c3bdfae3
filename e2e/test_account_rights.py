"""The parent's rights in a real browser, at desktop and phone sizes: "Télécharger mes données"
(the page, the file) and "Supprimer mon compte" (the explanation, a wrong password, the
deletion, the confirmation, activating the same address again)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from core.mail.sink import MailSink
from e2e.journeys import (
    ACTIVATION_SUBJECT,
    MAIL_TIMEOUT,
    Viewport,
    activate,
    assert_accessible,
    assert_fields_labelled,
    assert_fits_the_width,
    expect_logged_in_home,
    expect_login_page,
    mail_link,
    open_account_page,
    payer_address,
    set_password_form,
    url,
    wait_for_mail,
)

pytestmark = pytest.mark.e2e

PASSWORD = "cantine du jeudi midi"
SERVICE = "facturation@boe.example.org"  # the demo commune's contact address


def test_download_my_data(page: Page, server: str, mail_sink: MailSink, viewport: Viewport) -> None:
    email = payer_address("data", viewport.name)
    activate(page, server, mail_sink, email, PASSWORD)
    open_account_page(page, server)
    rights = page.get_by_role("region", name="Mes données et mon compte")
    rights.get_by_role("link", name="Télécharger mes données").click()

    expect(page).to_have_url(url(server, "mes-informations/mes-donnees"))
    expect(page).to_have_title("Mes données – Ville de Boé")
    expect(page.get_by_role("heading", name="Mes données", level=1)).to_be_visible()
    account = page.get_by_role("region", name="Mon compte")
    expect(account).to_contain_text(email)
    expect(account).to_contain_text("Actif")
    expect(page.get_by_role("region", name="Connexions ouvertes")).to_contain_text("Non")
    expect(
        page.get_by_role("region", name="Messages électroniques envoyés par le portail")
    ).to_contain_text("Accès au portail des factures")
    assert_fits_the_width(page)
    assert_accessible(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Télécharger mes données (fichier JSON)").click()
    download = download_info.value
    assert re.fullmatch(r"mes-donnees-boe-\d{4}-\d{2}-\d{2}\.json", download.suggested_filename)
    with open(download.path(), encoding="utf-8") as file:
        data = json.load(file)
    assert data["account"]["email"] == email
    assert data["payers"] and data["sessions"]
    assert not re.search(r"\b[0-9a-f]{64}\b", json.dumps(data))  # no hash of any kind


def test_delete_my_account(
    page: Page, server: str, mail_sink: MailSink, viewport: Viewport
) -> None:
    email = payer_address("delete", viewport.name)
    activate(page, server, mail_sink, email, PASSWORD)
    open_account_page(page, server)
    page.get_by_role("region", name="Mes données et mon compte").get_by_role(
        "link", name="Supprimer mon compte"
    ).click()

    expect(page).to_have_url(url(server, "mes-informations/supprimer"))
    expect(page.get_by_role("heading", name="Supprimer mon compte", level=1)).to_be_visible()
    expect(page.get_by_text("Ce qui sera conservé par Ville de Boé")).to_be_visible()
    assert_fields_labelled(page)
    assert_fits_the_width(page)
    assert_accessible(page)

    # A wrong password: the error under the field, tied to it; nothing is deleted.
    password = page.get_by_label("Mot de passe actuel")
    password.fill("pas le bon mot de passe")
    page.get_by_role("button", name="Supprimer définitivement mon compte").click()
    expect(page).to_have_title("Erreur – Supprimer mon compte – Ville de Boé")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description(
        re.compile("Le mot de passe actuel est incorrect.")
    )
    assert_fits_the_width(page)
    assert_accessible(page)

    password.fill(PASSWORD)
    page.get_by_role("button", name="Supprimer définitivement mon compte").click()
    expect(page).to_have_url(url(server, "compte-supprime"))
    expect(page.get_by_role("heading", name="Votre compte a été supprimé")).to_be_visible()
    expect(page.get_by_role("navigation", name="Menu principal")).to_have_count(0)
    assert_fits_the_width(page)
    assert_accessible(page)
    mail_sink.wait_for(  # the service is told which account went
        lambda m: (
            SERVICE in m.recipients and "suppression d'un compte" in m.subject and email in m.text
        ),
        timeout=MAIL_TIMEOUT,
    )
    wait_for_mail(mail_sink, email, "votre compte a été supprimé")

    # Signed out: "Mes informations" asks to log in.
    page.goto(url(server, "mes-informations"))
    expect_login_page(page, server)

    # The same address can be activated again (with a new link: the first one was used).
    used = {m.text for m in mail_sink.messages if email in m.recipients}
    page.goto(url(server, "activation"))
    page.get_by_label("Adresse de messagerie").fill(email)
    page.get_by_role("button", name="Activation", exact=True).click()
    mail = mail_sink.wait_for(
        lambda m: email in m.recipients and ACTIVATION_SUBJECT in m.subject and m.text not in used,
        timeout=MAIL_TIMEOUT,
    )
    page.goto(mail_link(mail, server, "activation"))
    set_password_form(page, "une nouvelle phrase de passe")
    expect_logged_in_home(page, server, info="activated")
