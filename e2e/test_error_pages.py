"""The error pages in a real browser at phone and desktop sizes: an unexpected error (500) and a
database that cannot be reached (503, `Retry-After`) show the French page with a reference that
the server's log carries, readable and accessible (axe-core, best practices included).

The failing routes come from `e2e.fault_plugin`, a test-only plugin that only the e2e server
loads: a normal install has no such route.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import Server
from e2e.fault_plugin import ERROR_500_PATH, ERROR_503_PATH
from e2e.journeys import Viewport, assert_accessible, assert_fits_the_width

pytestmark = pytest.mark.e2e

# path -> (status, the page's main heading, what the server logs with the reference)
ERRORS = {
    ERROR_500_PATH: (500, "Une erreur est survenue", "Unhandled error"),
    ERROR_503_PATH: (503, "Le portail est momentanément indisponible", "Database unavailable"),
}
REFERENCE = re.compile(r"^[0-9A-F]{8}$")


@pytest.mark.parametrize("path", ERRORS, ids=["500", "503"])
def test_error_page(
    page: Page, server: str, server_process: Server, viewport: Viewport, path: str
) -> None:
    status, heading, logged = ERRORS[path]
    log_offset = server_process.log_size()
    response = page.goto(server + path)
    assert response is not None and response.status == status
    assert response.headers.get("retry-after") == ("30" if status == 503 else None)
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Si le problème persiste, indiquez la référence")
    reference = alert.locator("strong").last.inner_text()
    assert REFERENCE.match(reference), reference
    assert f"{logged} (reference {reference}) on GET {path}" in server_process.log_since(log_offset)
    expect(page.get_by_role("link", name="Retour à l’accueil du portail")).to_be_visible()
    assert_fits_the_width(page)
    assert_accessible(page)

    # An htmx request gets the message alone, with the same status and its own reference
    # (htmx does not swap a 5xx answer: checked here in place of the page's own message).
    fragment = page.request.get(server + path, headers={"HX-Request": "true"})
    assert fragment.status == status
    assert fragment.headers.get("retry-after") == ("30" if status == 503 else None)
    html = fragment.text()
    assert "<html" not in html and "<h1" not in html
    page.evaluate("html => { document.querySelector('main [role=alert]').outerHTML = html; }", html)
    expect(page.get_by_role("alert")).to_contain_text("indiquez la référence")
    fragment_reference = page.get_by_role("alert").locator("strong").last.inner_text()
    assert REFERENCE.match(fragment_reference) and fragment_reference != reference
    assert_accessible(page)
