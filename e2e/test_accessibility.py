"""Accessibility and phones, in a real browser: what axe-core cannot see, measured.

The focus ring's contrast where it is drawn (WCAG 1.4.11), 44×44 px tap targets on a phone, the
compact phone menu and the tabs on one line, every error of a form at once, the payment summary's
main action first, printing on one A4 page, a keyboard-only journey from activation to a paid
invoice, and axe-core (WCAG A/AA and best practices) on the states no other test visits, after
proving that axe really runs and catches a fault.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from core.colours import contrast_ratio
from core.mail.sink import MailSink
from core.web.formatting import money
from e2e.conftest import VENV_BIN, Server, Viewport
from e2e.journeys import (
    ACCEPTED_CARD,
    PAYMENT_PASSWORD,
    assert_accessible,
    assert_fits_the_width,
    login,
    main_menu,
    mail_link,
    payment_payer,
    url,
    wait_for_mail,
    ACTIVATION_SUBJECT,
)
from e2e.seed import InvoiceRow, invoices_csv

pytestmark = pytest.mark.e2e

MIN_TARGET = 44  # px, WCAG 2.5.5 (AAA) and the platforms' guidelines; 2.5.8 asks 24
KEYBOARD_PASSWORD = "au clavier, sans souris"


# --- Helpers -------------------------------------------------------------------------------


def hex_colour(css: str) -> str:
    """`rgb(1, 2, 3)` (a computed colour) as `#010203`."""
    found = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, [\d.]+)?\)", css)
    assert found, css
    return "#" + "".join(f"{int(c):02x}" for c in found.groups())


FOCUS_STATE = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  // What the ring is drawn on: the first ancestor with a background of its own.
  let node = el.parentElement, behind = 'rgb(255, 255, 255)';
  while (node) {
    const bg = getComputedStyle(node).backgroundColor;
    if (bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') { behind = bg; break; }
    node = node.parentElement;
  }
  return {tag: el.tagName, text: (el.innerText || el.value || el.getAttribute('aria-label')
          || el.id || '').trim().slice(0, 60), outlineStyle: style.outlineStyle,
          outlineWidth: parseFloat(style.outlineWidth), outlineColor: style.outlineColor,
          behind, id: el.id, name: el.getAttribute('name') || ''};
}"""


def focus_state(page: Page) -> dict[str, Any]:
    return page.evaluate(FOCUS_STATE)  # type: ignore[no-any-return]


def assert_focus_visible(page: Page) -> dict[str, Any]:
    """The focused element has a 2 px or wider outline, 3:1 against what it is drawn on."""
    state = focus_state(page)
    where = f"{state['tag']} {state['text']!r} on {page.url}"
    assert state["outlineStyle"] != "none" and state["outlineWidth"] >= 2, f"no ring: {where}"
    ratio = contrast_ratio(hex_colour(state["outlineColor"]), hex_colour(state["behind"]))
    assert ratio >= 3, f"focus ring {state['outlineColor']} on {state['behind']}: {ratio:.2f}:1, {where}"
    return state


def tab_to(page: Page, matches: Any, *, limit: int = 60, check: bool = True) -> None:
    """Press Tab until the focused element `matches(state)`; every stop shows its focus and
    moves on (no trap)."""
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        state = assert_focus_visible(page) if check else focus_state(page)
        seen.append(f"{state['tag']}:{state['text']}")
        if matches(state):
            return
    raise AssertionError(f"not reached in {limit} Tab presses on {page.url}: {seen}")


def named(text: str) -> Any:
    return lambda state: state["text"] == text or state["text"].startswith(text)


def box(locator: Locator) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not displayed"
    return found


def assert_tap_target(locator: Locator, what: str) -> None:
    size = box(locator)
    assert size["width"] >= MIN_TARGET and size["height"] >= MIN_TARGET, (
        f"{what}: {size['width']:.0f}×{size['height']:.0f} px"
    )


def log_in_as(page: Page, server: str, scenario: str, viewport: Viewport) -> None:
    payer = payment_payer(scenario, viewport.name)
    login(page, server, payer.email, PAYMENT_PASSWORD, commune=payer.commune)
    expect(page).to_have_url(url(server, commune=payer.commune))


# --- axe really runs -----------------------------------------------------------------------


def test_axe_runs_and_catches_a_known_fault(page: Page, server: str) -> None:
    page.goto(url(server))
    assert_accessible(page)
    # An image without alt text, added the way the tests inject axe (the CSP allows it).
    page.evaluate(
        """() => { const img = document.createElement('img');
                   img.src = '/static/nothing.png'; img.width = 10; img.height = 10;
                   document.querySelector('main').append(img); }"""
    )
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page)
    # A best practice too: a second main landmark.
    page.evaluate("() => { document.querySelector('img[src$=\"nothing.png\"]').alt = 'x';"
                  " document.body.append(document.createElement('main')); }")
    with pytest.raises(AssertionError, match="landmark-no-duplicate-main|landmark-one-main"):
        assert_accessible(page)
