"""Steps of the agents' journeys in the back office, shared by its end-to-end tests.

Agents are made as an install makes them, with `portail agent create` on the running server's
database; they choose their password from the e-mailed link, then sign in through the pages.
Back-office tests run at desktop and tablet sizes:

    @BACKOFFICE_SIZES
    def test_something(page, server_process, mail_sink): ...
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from core.mail.sink import MailSink
from e2e.journeys import assert_fields_labelled, url, wait_for_mail

AGENT_PASSWORD = "une phrase de passe pour la gestion"
INVITATION_SUBJECT = "gestion du portail"
PORTAIL = Path(sys.executable).parent / "portail"


def _backoffice_sizes() -> pytest.MarkDecorator:
    from e2e.conftest import BACKOFFICE_VIEWPORTS

    return pytest.mark.parametrize(
        "viewport", BACKOFFICE_VIEWPORTS, indirect=True, ids=[v.name for v in BACKOFFICE_VIEWPORTS]
    )


BACKOFFICE_SIZES = _backoffice_sizes()


def agent_address(scenario: str, viewport: str, commune: str = "boe") -> str:
    """A fresh agent address per scenario and size, so tests never share an agent."""
    return f"e2e-agent-{scenario}-{viewport}@{commune}.example.org"


def create_agent(server: object, commune: str, email: str, role: str) -> None:
    """`portail agent create` on the server's database (its outbox sends the link)."""
    env = server.env  # type: ignore[attr-defined]
    command = [str(PORTAIL), "agent", "create", "--commune", commune, "--email", email]
    done = subprocess.run(
        [*command, "--role", role, "--name", f"Agent {role}"],
        env=env,
        cwd=server.cwd,  # type: ignore[attr-defined]
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")


def choose_agent_password(page: Page, base_url: str, sink: MailSink, email: str) -> None:
    """Follow the e-mailed link and choose the password; the login page says it is done."""
    mail = wait_for_mail(sink, email, INVITATION_SUBJECT)
    found = re.search(r"https?://\S+/gestion/mot-de-passe/[A-Za-z0-9_\-]+", mail.text)
    assert found, mail.text
    page.goto(found.group(0))
    expect(page.get_by_role("heading", level=1)).to_have_text("Choisir mon mot de passe")
    assert_fields_labelled(page)
    page.get_by_label("Nouveau mot de passe").fill(AGENT_PASSWORD)
    page.get_by_label("Confirmation du mot de passe").fill(AGENT_PASSWORD)
    page.get_by_role("button", name="Enregistrer le mot de passe").click()
    expect(page.get_by_role("status")).to_contain_text("Votre mot de passe est enregistré")


def agent_login(page: Page, base_url: str, email: str, commune: str = "boe") -> None:
    page.goto(url(base_url, "gestion/connexion", commune=commune))
    assert_fields_labelled(page)
    page.get_by_label("Adresse de messagerie").fill(email)
    page.get_by_label("Mot de passe", exact=True).fill(AGENT_PASSWORD)
    page.get_by_role("button", name="Connexion", exact=True).click()


def enrol_totp(page: Page) -> pyotp.TOTP:
    """On the enrolment page: read the key as a person would type it, give a code."""
    expect(page.get_by_role("heading", level=1)).to_have_text("Double authentification")
    secret = page.locator("code.secret-key").inner_text()
    authenticator = pyotp.TOTP(secret)
    page.get_by_label("Code à 6 chiffres").fill(authenticator.now())
    page.get_by_role("button", name="Activer la double authentification").click()
    expect(page.get_by_role("heading", name="Vos codes de secours")).to_be_visible()
    return authenticator


def signed_in_agent(
    page: Page, server: object, sink: MailSink, email: str, role: str, commune: str = "boe"
) -> pyotp.TOTP | None:
    """A new agent of `commune` with `role`, signed in (TOTP enrolled for an administrator);
    the page is left on the dashboard."""
    base_url = server.base_url  # type: ignore[attr-defined]
    create_agent(server, commune, email, role)
    choose_agent_password(page, base_url, sink, email)
    agent_login(page, base_url, email, commune)
    authenticator = None
    if role == "administrateur":
        authenticator = enrol_totp(page)
        page.get_by_role("link", name="Continuer vers le tableau de bord").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tableau de bord")
    return authenticator


def open_section(page: Page, name: str) -> None:
    """Open a section from the back office's menu."""
    page.get_by_role("navigation", name="Menu de gestion").get_by_role("link", name=name).click()
