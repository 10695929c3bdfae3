"""What a commune publishes, in a real browser at phone and desktop sizes: the footer's links
from the login page to each legal page, each page readable and accessible (axe-core)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from e2e.journeys import Viewport, assert_accessible, assert_fits_the_width, url

pytestmark = pytest.mark.e2e

# Footer link text (a prefix is enough) -> the page's main heading.
PAGES = {
    "Mentions légales": "Mentions légales",
    "Données personnelles": "Données personnelles et cookies",
    "Accessibilité : non conforme": "Déclaration d’accessibilité",
    "Aide": "Aide",
}


@pytest.mark.parametrize("link", PAGES)
def test_legal_page_from_the_footer(page: Page, server: str, viewport: Viewport, link: str) -> None:
    page.goto(url(server, "connexion"))
    footer = page.get_by_role("navigation", name="Informations légales")
    target = footer.get_by_role("link", name=link, exact=True)
    box = target.bounding_box()
    assert box is not None and box["height"] >= 44, f"{link}: {box}"  # a finger's tap
    target.click()
    expect(page.get_by_role("heading", name=PAGES[link], level=1)).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)


def test_aide_from_the_login_page_and_its_table_of_contents(
    page: Page, server: str, viewport: Viewport
) -> None:
    page.goto(url(server, "connexion"))
    page.get_by_role("link", name="Besoin d’aide ? Activation, factures, paiement…").click()
    expect(page.get_by_role("heading", name="Aide", level=1)).to_be_visible()
    page.get_by_role("navigation", name="Sur cette page").get_by_role(
        "link", name="Payer une facture"
    ).click()
    expect(page).to_have_url(url(server, "aide#payer"))
    expect(page.get_by_role("heading", name="Payer une facture")).to_be_in_viewport()


def test_the_source_code_link_downloads_the_running_version(
    page: Page, server: str, viewport: Viewport
) -> None:
    page.goto(url(server, "aide"))
    with page.expect_download() as download:
        page.get_by_role("link", name="Code source (AGPL-3.0, version").click()
    assert download.value.suggested_filename.startswith("portail-des-factures-")
    assert download.value.suggested_filename.endswith(".tar.gz")
