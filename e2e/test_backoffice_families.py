"""Familles, Agents and Journal in the back office, at desktop and tablet sizes: a gestionnaire
finds a family and opens its page; an administrator opens Agents and Journal."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from core.mail.sink import MailSink
from e2e.backoffice import BACKOFFICE_SIZES, agent_address, open_section, signed_in_agent
from e2e.journeys import Viewport, assert_accessible, assert_fits_the_width

pytestmark = pytest.mark.e2e


@BACKOFFICE_SIZES
def test_a_gestionnaire_finds_a_family_and_opens_its_page(
    page: Page, viewport: Viewport, server_process: object, mail_sink: MailSink
) -> None:
    email = agent_address("families", viewport.name)
    signed_in_agent(page, server_process, mail_sink, email, "gestionnaire")
    # `open_section` matches a part of the name: "Inviter les familles" too.
    menu = page.get_by_role("navigation", name="Menu de gestion")
    menu.get_by_role("link", name="Familles", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Familles")
    page.get_by_label("Nom, référence ou adresse de messagerie").fill("Martin")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("status")).to_contain_text("trouvée")
    expect(page.get_by_role("link", name="Famille Martin")).to_be_visible()
    expect(menu.get_by_role("link", name="Familles", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    assert_fits_the_width(page)
    assert_accessible(page)

    page.get_by_role("link", name="Famille Martin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Famille Martin")
    expect(page.get_by_role("table", name="Factures de la famille")).to_be_visible()
    expect(page.get_by_text("claire.martin@example.org").first).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)

    open_section(page, "Inviter les familles")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inviter les familles")
    expect(page.get_by_text("Adresses sans compte")).to_be_visible()
    expect(page.get_by_label("Régie (facultatif)")).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)


@BACKOFFICE_SIZES
def test_an_administrator_opens_agents_and_journal(
    page: Page, viewport: Viewport, server_process: object, mail_sink: MailSink
) -> None:
    email = agent_address("agents", viewport.name)
    signed_in_agent(page, server_process, mail_sink, email, "administrateur")
    open_section(page, "Agents")
    expect(page.get_by_role("heading", level=1)).to_have_text("Agents")
    expect(page.get_by_role("cell", name=email)).to_be_visible()
    expect(page.get_by_role("heading", name="Inviter un agent")).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)

    open_section(page, "Journal")
    expect(page.get_by_role("heading", level=1)).to_have_text("Journal")
    expect(page.get_by_role("cell", name="Double authentification activée").first).to_be_visible()
    page.get_by_label("Action").select_option("agents")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.get_by_role("cell", name="Connexion d’un agent").first).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)
