"""The plugins' back-office sections in the browser: Dématérialisation at Boé (the demo
configuration runs `paper_optout` there), at desktop and tablet sizes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from core.demo_accounts import DEMO_PASSWORD
from core.mail.sink import MailSink
from e2e.backoffice import BACKOFFICE_SIZES, agent_address, open_section, signed_in_agent
from e2e.journeys import Viewport, assert_accessible, assert_fits_the_width, login, url

pytestmark = pytest.mark.e2e

PARENT = "claire.martin@example.org"  # the demo's active account at Boé


def parent_gives_up_paper(page: Page, base_url: str) -> None:
    """The demo parent asks for no paper invoices (already done at the other size: kept)."""
    login(page, base_url, PARENT, DEMO_PASSWORD)
    page.goto(url(base_url, "papier"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile("(ne plus )?recevoir (de nouveau )?les factures papier", re.IGNORECASE)
    )
    if page.get_by_text("ne plus recevoir les factures").count():
        page.get_by_role("button", name="Confirmer").click()
        expect(page.get_by_role("status")).to_contain_text("vous ne recevrez plus")


@BACKOFFICE_SIZES
def test_an_agent_opens_dematerialisation_and_exports_the_csv(
    page: Page, viewport: Viewport, server_process: object, mail_sink: MailSink
) -> None:
    base_url = server_process.base_url  # type: ignore[attr-defined]
    parent_gives_up_paper(page, base_url)
    email = agent_address("dematerialisation", viewport.name)
    signed_in_agent(page, server_process, mail_sink, email, "gestionnaire")

    open_section(page, "Dématérialisation")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dématérialisation")
    expect(page.get_by_role("link", name="Dématérialisation")).to_have_attribute(
        "aria-current", "page"
    )
    table = page.get_by_role("table", name="Familles sans factures papier")
    expect(table).to_contain_text(PARENT)
    assert_fits_the_width(page)
    assert_accessible(page)

    with page.expect_download() as download:
        page.get_by_role("link", name="Exporter").click()
    assert download.value.suggested_filename == "dematerialisation-boe.csv"
    content = download.value.path().read_bytes().decode("utf-8")
    lines = content.splitlines()
    assert lines[0] == "\ufeffreference;nom;email;depuis"
    assert any(PARENT in line for line in lines[1:]), content
