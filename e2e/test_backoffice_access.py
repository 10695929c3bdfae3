"""Agents sign in to the back office, at desktop and tablet sizes."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from core.mail.sink import MailSink
from e2e.backoffice import (
    BACKOFFICE_SIZES,
    agent_address,
    agent_login,
    signed_in_agent,
)
from e2e.journeys import Viewport, assert_accessible, assert_fits_the_width

pytestmark = pytest.mark.e2e


@BACKOFFICE_SIZES
def test_a_gestionnaire_signs_in_and_reads_the_dashboard(
    page: Page, viewport: Viewport, server_process: object, mail_sink: MailSink
) -> None:
    email = agent_address("dashboard", viewport.name)
    signed_in_agent(page, server_process, mail_sink, email, "gestionnaire")
    expect(page.get_by_text("Paiements du jour")).to_be_visible()
    expect(page.get_by_role("link", name="Tableau de bord")).to_have_attribute(
        "aria-current", "page"
    )
    assert_fits_the_width(page)
    assert_accessible(page)
    page.get_by_role("button", name="Déconnexion").click()
    expect(page.get_by_role("status")).to_have_text("Vous êtes déconnecté.")
    assert_accessible(page)


@BACKOFFICE_SIZES
def test_an_administrator_enrols_totp_and_signs_in_with_a_code(
    page: Page, viewport: Viewport, server_process: object, mail_sink: MailSink
) -> None:
    email = agent_address("totp", viewport.name)
    base_url = server_process.base_url  # type: ignore[attr-defined]
    from e2e.backoffice import choose_agent_password, create_agent, enrol_totp

    create_agent(server_process, "boe", email, "administrateur")
    choose_agent_password(page, base_url, mail_sink, email)
    agent_login(page, base_url, email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Double authentification")
    expect(page.locator(".qr-code svg")).to_be_visible()
    assert_accessible(page)
    authenticator = enrol_totp(page)
    assert_accessible(page)
    page.get_by_role("link", name="Continuer vers le tableau de bord").click()
    page.get_by_role("button", name="Déconnexion").click()

    agent_login(page, base_url, email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Code de vérification")
    page.get_by_label("Code de vérification").fill("000000")
    page.get_by_role("button", name="Valider").click()
    expect(page.locator(".field__error")).to_contain_text("code")
    expect(page).to_have_title("Erreur – Code de vérification – Ville de Boé")
    assert_accessible(page)
    # The enrolment used this time step's code; the next step's is accepted (clock drift).
    page.get_by_label("Code de vérification").fill(authenticator.at(time.time() + 30))
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tableau de bord")
