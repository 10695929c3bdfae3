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
from playwright.sync_api import Locator, Page, Route, expect

from core.colours import contrast_ratio
from core.mail.sink import MailSink
from core.web.formatting import money
from e2e.conftest import VENV_BIN, Server, Viewport
from e2e.journeys import (
    ACCEPTED_CARD,
    ACTIVATION_SUBJECT,
    PAYMENT_PASSWORD,
    assert_accessible,
    assert_fits_the_width,
    login,
    mail_link,
    main_menu,
    payment_payer,
    url,
    wait_for_mail,
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
  // What the ring is drawn on: under a point of the ring (beside the element, outline-offset
  // away), the first element with a background of its own.
  const r = el.getBoundingClientRect();
  const off = parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth) / 2;
  const x = r.left - off >= 0 ? r.left - off : r.right + off;
  const under = document.elementsFromPoint(x, r.top + r.height / 2)
    .find(n => n !== el && !el.contains(n));
  let node = under || el.parentElement, behind = 'rgb(255, 255, 255)';
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
    assert ratio >= 3, (
        f"focus ring {state['outlineColor']} on {state['behind']}: {ratio:.2f}:1, {where}"
    )
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
    """The focused element's text starts or ends with `text` (a visually hidden part aside)."""
    return lambda state: state["text"].startswith(text) or state["text"].endswith(text)


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
    page.evaluate(
        "() => { document.querySelector('img[src$=\"nothing.png\"]').alt = 'x';"
        " document.body.append(document.createElement('main')); }"
    )
    with pytest.raises(AssertionError, match=r"landmark-no-duplicate-main|landmark-one-main"):
        assert_accessible(page)


# --- Focus rings -----------------------------------------------------------------------------


@pytest.mark.parametrize("commune", ["boe", "aure"])
def test_focus_rings_contrast_on_the_communes_colour_and_on_the_page(
    page: Page, server: str, commune: str
) -> None:
    page.goto(url(server, commune=commune))
    header = hex_colour(
        page.locator(".site-header").evaluate("e => getComputedStyle(e).backgroundColor")
    )
    # The skip link and the commune's name sit on the header's colour.
    page.keyboard.press("Tab")
    skip = focus_state(page)
    assert skip["text"] == "Aller au contenu"
    assert contrast_ratio(hex_colour(skip["outlineColor"]), header) >= 3, (commune, skip)
    page.keyboard.press("Tab")
    brand = assert_focus_visible(page)
    assert brand["tag"] == "A" and hex_colour(brand["behind"]) == header
    # The page's fields and buttons: on white and on the page's grey.
    tab_to(page, lambda s: s["tag"] == "BUTTON" and s["text"] == "Connexion")
    for background in ("#ffffff", "#f6f6f6"):
        ring = hex_colour(focus_state(page)["outlineColor"])
        assert contrast_ratio(ring, background) >= 3, (commune, ring, background)


# --- Phone menu, tabs, tap targets -----------------------------------------------------------


def test_the_menu_and_the_tabs_take_one_row(page: Page, server: str, viewport: Viewport) -> None:
    log_in_as(page, server, "settled", viewport)
    nav = page.get_by_role("navigation", name="Menu principal")
    button = nav.locator("summary")
    links = nav.get_by_role("link")
    if viewport.name == "phone":
        # One row, the "Menu" button, instead of three rows of links (about 150 px).
        assert box(nav)["height"] <= 60, box(nav)
        expect(button).to_have_text("Menu")
        expect(links.first).to_be_hidden()
        assert_tap_target(button, "the Menu button")
        # Opened from the keyboard, no script needed (a <details>).
        button.focus()
        assert_focus_visible(page)
        page.keyboard.press("Enter")
        expect(links.first).to_be_visible()
        for link in [*links.all(), nav.get_by_role("button", name="Déconnexion")]:
            assert_tap_target(link, f"menu item {link.inner_text()}")
        page.keyboard.press("Enter")
        expect(links.first).to_be_hidden()
    else:
        expect(button).to_be_hidden()
        tops = {round(box(link)["y"]) for link in links.all()}
        assert len(tops) == 1, f"the menu takes {len(tops)} rows"
    main_menu(page).get_by_role("link", name="Mes factures").click()
    tabs = page.get_by_role("navigation", name="Catégories de factures").get_by_role("link")
    expect(tabs).to_have_count(3)
    boxes = [box(tab) for tab in tabs.all()]
    assert len({round(b["y"]) for b in boxes}) == 1, f"tabs on several rows: {boxes}"
    for tab, size in zip(tabs.all(), boxes, strict=True):
        # One line of text: a wrapped label ("En trésorerie" alone) doubles the height.
        assert size["height"] < 2 * MIN_TARGET, f"{tab.inner_text()!r} wraps: {size}"
    assert_fits_the_width(page)
    assert_accessible(page)


def test_tap_targets_on_a_phone(page: Page, server: str, viewport: Viewport) -> None:
    if viewport.name != "phone":
        pytest.skip("tap targets are measured on a phone")
    payer = payment_payer("a11y", viewport.name)
    log_in_as(page, server, "a11y", viewport)
    main_menu(page).get_by_role("link", name="Mes factures").click()
    invoice = payer.invoices[1]
    link = page.get_by_role("link", name=invoice.number)
    assert_tap_target(link, "the invoice number link")
    # The whole card opens the invoice: its far corner hits the link too.
    card = page.get_by_role("row").filter(has=link)
    card.scroll_into_view_if_needed()
    corner = box(card)
    hit = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('a')?.id || ''",
        [corner["x"] + corner["width"] - 8, corner["y"] + corner["height"] - 8],
    )
    assert hit == link.get_attribute("id"), hit
    page.mouse.click(corner["x"] + corner["width"] - 8, corner["y"] + corner["height"] - 8)
    expect(page.get_by_role("heading", name=f"Facture n° {invoice.number}")).to_be_visible()

    page.get_by_role("link", name="Payer la facture").click()
    box_label = page.get_by_label(f"Payer la facture {invoice.number}")
    expect(box_label).to_be_checked()
    tick = page.locator("label.basket__tick").filter(has=box_label)
    assert_tap_target(tick, "the basket's tick box and its label")
    other = page.get_by_label(f"Payer la facture {payer.invoices[0].number}")
    other_card = page.get_by_role("row").filter(has=other)
    other_card.scroll_into_view_if_needed()
    centre = box(other_card)
    page.mouse.click(centre["x"] + centre["width"] / 2, centre["y"] + centre["height"] / 2)
    expect(other).to_be_checked()  # a tap anywhere on the card ticks it
    assert_accessible(page)


# --- Payment summary, refused and pending payments -------------------------------------------


def test_payment_summary_refused_and_pending_payments(
    page: Page, server: str, viewport: Viewport
) -> None:
    payer = payment_payer("a11y", viewport.name)
    invoice = payer.invoices[0]  # 51,10 €
    log_in_as(page, server, "a11y", viewport)
    main_menu(page).get_by_role("link", name="Mes factures").click()
    page.get_by_role("link", name=invoice.number).click()
    page.get_by_role("link", name="Payer la facture").click()
    page.get_by_role("region", name="Restauration scolaire").get_by_role(
        "button", name="Continuer vers le paiement"
    ).click()

    # Nothing is paid yet: the caption does not say so.
    expect(page.get_by_role("table")).to_have_accessible_name("Factures à payer")
    expect(page.get_by_text("Factures payées")).to_have_count(0)
    # The main action comes first in reading order, so on a phone it is the first reached.
    pay = page.get_by_role("button", name=f"Payer {money(invoice.cents)}")
    actions = page.locator("form .actions").locator("a, button")
    expect(actions.first).to_have_text(f"Payer {money(invoice.cents)}")
    cancel = page.get_by_role("link", name="Annuler", exact=True)
    assert box(pay)["y"] <= box(cancel)["y"]
    assert_fits_the_width(page)
    assert_accessible(page)

    pay.click()
    page.get_by_label("Numéro de carte").fill("4000 0000 0000 0002")
    page.get_by_role("button", name="Payer par carte bancaire").click()
    expect(page.get_by_role("heading", name="Paiement refusé", level=2)).to_be_visible()
    assert_accessible(page)  # a refused payment

    page.get_by_role("link", name="Payer de nouveau").click()
    page.get_by_role("button", name=f"Payer {money(invoice.cents)}").click()
    expect(page.get_by_label("Numéro de carte")).to_be_visible()
    # The parent leaves the payment service without paying nor cancelling: pending.
    page.goto(url(server, "paiements"))
    row = page.get_by_role("row").filter(has_text="en cours")
    expect(row).to_have_count(1)
    detail = row.get_by_role("link", name=re.compile("^Détail"))
    if viewport.name == "phone":
        assert_tap_target(detail, "the payment's Détail link")
    assert_accessible(page)  # Mes paiements
    detail.click()
    expect(page.get_by_role("heading", level=2)).to_contain_text("en cours")
    assert_accessible(page)  # a pending payment


# --- Forms with errors -----------------------------------------------------------------------


# Records (in `window.focusWhenSwapped`) the id of the focused element as soon as `selector`
# matches in the page, from a mutation observer: its callback runs right after the task that
# changed the page, before any key press or timer of the browser.
FOCUS_WHEN_SWAPPED = """(selector) => {
  window.focusWhenSwapped = null;
  new MutationObserver((_, observer) => {
    if (!document.querySelector(selector)) return;
    window.focusWhenSwapped = document.activeElement.id || document.activeElement.tagName;
    observer.disconnect();
  }).observe(document.body, { childList: true, subtree: true });
}"""


def test_forms_with_errors_show_them_all_and_say_so_in_the_title(
    page: Page, server: str, viewport: Viewport
) -> None:
    payer = payment_payer("settled", viewport.name)
    login(page, server, payer.email, "pas le bon mot de passe")
    expect(page).to_have_title(re.compile(r"^Erreur – Connexion – Ville de Boé$"))
    assert_accessible(page)
    log_in_as(page, server, "settled", viewport)

    main_menu(page).get_by_role("link", name="Mes informations").click()
    expect(page).to_have_title("Mes informations – Ville de Boé")
    # An invalid address and a wrong password: both said at once, next to their fields (no
    # browser bubble: the form has novalidate).
    page.wait_for_load_state()  # htmx has run (without it, see the test below)
    section = page.locator("#email-section")
    section.get_by_label("Nouvelle adresse de messagerie").fill("pas une adresse")
    section.get_by_label("Mot de passe actuel").fill("faux")
    page.evaluate(FOCUS_WHEN_SWAPPED, "#email-section .field__error")
    section.get_by_role("button", name="Changer l’adresse mail").press("Enter")
    expect(section.locator(".field__error")).to_have_count(2)
    # The swapped section's heading takes the focus (not <body>), and Tab reaches the field.
    # It has it as soon as the section is in the page: a key pressed then is not undone by
    # a focus that comes later (htmx's settling; this test used to fail now and then).
    assert page.evaluate("() => window.focusWhenSwapped") == "email-title"
    expect(page.get_by_role("heading", name="Mon adresse de messagerie")).to_be_focused()
    page.keyboard.press("Tab")
    expect(section.get_by_label("Nouvelle adresse de messagerie")).to_be_focused()
    expect(page).to_have_title("Erreur – Mes informations – Ville de Boé")
    assert_accessible(page)

    section = page.locator("#password-section")
    section.get_by_label("Ancien mot de passe").fill("faux")
    section.get_by_label("Nouveau mot de passe", exact=True).fill("court")
    section.get_by_label("Confirmation du nouveau mot de passe").fill("autre")
    page.evaluate(FOCUS_WHEN_SWAPPED, "#password-section .field__error")
    section.get_by_role("button", name="Changer le mot de passe").press("Enter")
    expect(section.locator(".field__error").first).to_be_visible()
    assert page.evaluate("() => window.focusWhenSwapped") == "password-title"
    expect(page.get_by_role("heading", name="Mon mot de passe")).to_be_focused()
    page.keyboard.press("Tab")
    expect(section.get_by_label("Ancien mot de passe")).to_be_focused()
    errors = section.locator(".field__error")
    expect(errors.first).to_be_visible()
    texts = " ".join(errors.all_inner_texts())
    for message in ("actuel est incorrect", "au moins", "ne sont pas identiques"):
        assert message in texts, texts
    expect(page).to_have_title("Erreur – Mes informations – Ville de Boé")
    assert_accessible(page)

    main_menu(page).get_by_role("link", name="Contact").click()
    page.get_by_role("button", name="Envoyer").click()
    expect(page).to_have_title(re.compile("^Erreur – Contact – "))
    expect(page.get_by_role("button", name="Effacer")).to_have_count(0)
    assert_accessible(page)


def test_a_form_sent_before_htmx_has_loaded_still_leads_the_focus_to_its_errors(
    page: Page, server: str, viewport: Viewport
) -> None:
    """On a slow connection (or a loaded machine) a keyboard user can press Enter before the
    deferred htmx script runs: the form is then sent as a whole page, which must focus the
    refused section as the swapped one would (this is what made the test above flaky)."""
    log_in_as(page, server, "settled", viewport)
    held: list[Route] = []
    page.route("**/htmx.min.js", lambda route: held.append(route))
    main_menu(page).get_by_role("link", name="Mes informations").click()
    expect(page).to_have_title("Mes informations – Ville de Boé")
    section = page.locator("#password-section")
    section.get_by_label("Ancien mot de passe").fill("faux")
    section.get_by_role("button", name="Changer le mot de passe").press("Enter")
    expect(page).to_have_url(re.compile(r"/mes-informations/mot-de-passe$"))  # no htmx: a page
    expect(page.get_by_role("heading", name="Mon mot de passe")).to_be_focused()
    page.keyboard.press("Tab")
    expect(section.get_by_label("Ancien mot de passe")).to_be_focused()
    for route in held:
        route.continue_()


# --- Error pages and pagination --------------------------------------------------------------


def test_error_pages_and_pagination(page: Page, server: str, viewport: Viewport) -> None:
    response = page.goto(url(server, "cette-page-n-existe-pas"))
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page)
    # An unknown commune too (no commune's colours, no menu).
    response = page.goto(f"{server}/nulle-part/")
    assert response is not None and response.status == 404
    assert_accessible(page)

    payer = payment_payer("pages", viewport.name)
    log_in_as(page, server, "pages", viewport)
    main_menu(page).get_by_role("link", name="Mes factures").click()
    pages = page.get_by_role("navigation", name="Pages de la liste")
    expect(pages).to_be_visible()
    assert_accessible(page)
    pages.get_by_role("link", name="Page suivante").click()
    expect(page.get_by_role("table")).to_contain_text("page 2 sur 2")
    expect(page.get_by_role("row")).to_have_count(2)  # the header and the 21st invoice
    assert len(payer.invoices) == 21
    assert_fits_the_width(page)
    assert_accessible(page)


# --- Keyboard only, from activation to a paid invoice, then printing -------------------------


def seed_keyboard_payer(server_process: Server, viewport: Viewport, tmp_path: Path) -> InvoiceRow:
    """A payer of Boé with one invoice to pay and no account yet, imported as the commune's
    billing export would be."""
    tag = f"E2E-KBD-{viewport.name[0]}".upper()
    row = InvoiceRow(
        f"E2E-KEYBOARD-{viewport.name}".upper(),
        f"Famille Clavier ({viewport.name})",
        f"e2e-keyboard-{viewport.name}@example.org",
        "CANT",
        f"CANT-{tag}1",
        4270,
        "Restauration scolaire",
    )
    export = tmp_path / "factures-clavier.csv"
    export.write_text(invoices_csv([row]), "utf-8")
    done = subprocess.run(
        [str(VENV_BIN / "portail"), "import", "invoices", str(export), "--commune", "boe"],
        env=server_process.env,
        cwd=server_process.cwd,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")
    return row


def type_into(page: Page, label: str, text: str, *, check: bool = True) -> None:
    """Tab to the field labelled `label`, then type (no click)."""
    label_of_focus = "() => document.activeElement.labels?.[0]?.innerText?.trim() || ''"
    tab_to(
        page, lambda s: s["tag"] == "INPUT" and page.evaluate(label_of_focus) == label, check=check
    )
    page.keyboard.type(text)


def press_on(page: Page, name: str) -> None:
    """Tab to the link or button named `name`, and press Enter."""
    tab_to(page, named(name))
    page.keyboard.press("Enter")


def test_keyboard_only_from_activation_to_a_paid_invoice(
    page: Page,
    server: str,
    server_process: Server,
    mail_sink: MailSink,
    viewport: Viewport,
    tmp_path: Path,
) -> None:
    row = seed_keyboard_payer(server_process, viewport, tmp_path)
    page.goto(url(server))
    press_on(page, "Activer mon compte")
    expect(page).to_have_url(url(server, "activation"))
    type_into(page, "Adresse de messagerie", row.email)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Consultez votre messagerie")).to_be_visible()
    page.goto(
        mail_link(wait_for_mail(mail_sink, row.email, ACTIVATION_SUBJECT), server, "activation")
    )

    type_into(page, "Mot de passe", KEYBOARD_PASSWORD)
    type_into(page, "Confirmation du mot de passe", KEYBOARD_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(url(server) + "?info=activated")

    # The important message opens as a dialog: closed from the keyboard, the focus stays
    # where it was, on a visible line (its ring checked), and Tab goes on from there.
    expect(page.get_by_role("dialog")).to_be_visible()
    # htmx (a deferred script) must have run for the closing to happen in place.
    page.wait_for_load_state()
    press_on(page, "Fermer")
    expect(page.get_by_role("dialog")).to_have_count(0)
    closed = page.locator("#important-message")
    expect(closed).to_be_focused()
    expect(closed).to_have_text("Message fermé.")
    assert box(closed)["height"] >= 16 and box(closed)["width"] >= 100
    assert_focus_visible(page)
    press_on(page, "Mes factures")  # the home page's own link to the invoices
    expect(page).to_have_url(url(server, "factures"))
    page.wait_for_load_state()  # the detail opens in place once htmx has run
    press_on(page, row.number)
    heading = page.get_by_role("heading", name=f"Facture n° {row.number}")
    expect(heading).to_be_focused()  # the detail opened in place takes the focus
    press_on(page, "Payer la facture")
    expect(page.get_by_label(f"Payer la facture {row.number}")).to_be_checked()
    press_on(page, "Continuer vers le paiement")
    expect(page.get_by_role("table")).to_have_accessible_name("Factures à payer")
    press_on(page, f"Payer {money(row.cents)}")

    # The payment service's page (the simulator, not the portal's styles): keys only still.
    expect(page.get_by_label("Numéro de carte")).to_be_visible()
    type_into(page, "Numéro de carte", ACCEPTED_CARD, check=False)
    tab_to(page, named("Payer par carte bancaire"), check=False)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Paiement accepté", level=2)).to_be_visible()
    assert_accessible(page)
    assert_prints_on_one_page(page)  # the receipt
    press_on(page, "Voir mes factures réglées")
    expect(page).to_have_url(url(server, "factures/reglees"))
    # Exact: the row's PDF and receipt links name the invoice too.
    detail = page.get_by_role("link", name=f"Facture {row.number}", exact=True).get_attribute(
        "href"
    )
    assert detail
    page.goto(server + detail)  # the invoice's own page
    assert_prints_on_one_page(page)


def assert_prints_on_one_page(page: Page) -> None:
    """Printed (A4), the page has no menu, no footer, and fits one sheet."""
    page.emulate_media(media="print")
    try:
        expect(page.get_by_role("navigation", name="Menu principal")).to_be_hidden()
        expect(page.locator(".site-footer")).to_be_hidden()
        expect(page.get_by_role("heading", level=2).first).to_be_visible()
    finally:
        page.emulate_media(media="screen")
    pdf = page.pdf(format="A4")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages == 1, f"{page.url} prints on {pages} A4 pages"
