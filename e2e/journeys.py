"""Steps shared by the end-to-end tests: what a parent does, through accessible locators only.

Locating fields by their label and buttons by their role and name makes every step an
accessibility check as well: a field without a label cannot be filled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from core.mail.sink import MailSink, ReceivedMail
from e2e.seed import InvoiceRow

COMMUNE = "boe"
MAIL_TIMEOUT = 15.0

ACTIVATION_SUBJECT = "Accès au portail des factures"
RESET_SUBJECT = "nouveau mot de passe"
EMAIL_CHANGE_SUBJECT = "validez votre nouvelle adresse"
EMAIL_CHANGED_SUBJECT = "votre adresse de messagerie a changé"

HOME_HEADING = "Bienvenue sur le portail des factures"
LOGIN_HEADING = "Le portail des factures"
LOGIN_FAILED = "Adresse de messagerie ou mot de passe incorrect."


@dataclass(frozen=True)
class Viewport:
    """A browser size the tests run at; `options` go to `browser.new_context()`."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


def payer_address(scenario: str, viewport: str) -> str:
    """The seeded payer address of a scenario at a viewport (no account until activated)."""
    return f"e2e-{scenario}-{viewport}@example.org"


def url(base_url: str, path: str = "", commune: str = COMMUNE) -> str:
    """The absolute URL of a page of the commune: url(base, "mes-informations")."""
    return f"{base_url}/{commune}/{path}"


# --- Mail ----------------------------------------------------------------------------------


def wait_for_mail(sink: MailSink, to: str, subject: str) -> ReceivedMail:
    """The first message to `to` whose subject contains `subject`."""
    return sink.wait_for(
        lambda m: to in m.recipients and subject.lower() in m.subject.lower(),
        timeout=MAIL_TIMEOUT,
    )


def mail_link(mail: ReceivedMail, base_url: str, path: str) -> str:
    """The link of the message to `<base_url>/<commune>/<path>/<token>`."""
    pattern = re.escape(url(base_url, path) + "/") + r"[A-Za-z0-9_\-]+"
    found = re.search(pattern, mail.text)
    assert found, f"no {path}/ link in the message {mail.subject!r}:\n{mail.text}"
    return found.group(0)


# --- Pages ---------------------------------------------------------------------------------


def assert_fields_labelled(page: Page) -> None:
    """Every visible form field of the page has an accessible label."""
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll(
              'input:not([type=hidden]), select, textarea'))
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby'))
            .map(el => el.outerHTML)"""
    )
    assert unlabelled == [], f"fields without a label on {page.url}: {unlabelled}"


def assert_fits_the_width(page: Page) -> None:
    """Nothing wider than the viewport: no sideways scrolling, on a phone in particular."""
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} is {overflow} px wider than the viewport"


def main_menu(page: Page) -> Locator:
    """The main menu, unfolded: on a phone its links are behind the "Menu" button."""
    nav = page.get_by_role("navigation", name="Menu principal")
    fold = nav.locator("details")
    if nav.locator("summary").is_visible() and fold.get_attribute("open") is None:
        nav.locator("summary").click()
        expect(fold).to_have_attribute("open", "")
    return nav


def expect_logged_in_home(
    page: Page, base_url: str, info: str | None = None, commune: str = COMMUNE
) -> None:
    expected = url(base_url, commune=commune) + (f"?info={info}" if info else "")
    expect(page).to_have_url(expected)
    expect(page.get_by_role("heading", name=HOME_HEADING, level=1)).to_be_visible()
    nav = main_menu(page)
    for label in ("Mes factures", "Mes informations", "Contact"):
        expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(nav.get_by_role("button", name="Déconnexion")).to_be_visible()
    assert_fits_the_width(page)


def expect_login_page(page: Page, base_url: str) -> None:
    expect(page).to_have_url(re.compile(re.escape(url(base_url)) + r"(connexion)?(\?.*)?$"))
    expect(page.get_by_role("heading", name=LOGIN_HEADING, level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Connexion", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Menu principal")).to_have_count(0)
    assert_fits_the_width(page)


def set_password_form(page: Page, password: str, confirmation: str | None = None) -> None:
    """Fill and send the "choose your password" form (activation or reset)."""
    assert_fields_labelled(page)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_label("Confirmation du mot de passe", exact=True).fill(
        password if confirmation is None else confirmation
    )
    page.get_by_role("button", name="Enregistrer").click()


def request_activation(page: Page, base_url: str, sink: MailSink, email: str) -> str:
    """From the login page, ask for the activation e-mail; returns the link it holds."""
    page.goto(url(base_url))
    page.get_by_role("link", name="Activer mon compte").click()
    expect(page).to_have_url(url(base_url, "activation"))
    assert_fields_labelled(page)
    page.get_by_label("Adresse de messagerie").fill(email)
    page.get_by_role("button", name="Activation", exact=True).click()
    expect_neutral_message(page, base_url, "activation/envoyee")
    return mail_link(wait_for_mail(sink, email, ACTIVATION_SUBJECT), base_url, "activation")


def expect_neutral_message(page: Page, base_url: str, path: str) -> None:
    """The "if this address is known, a message was sent" page, the same for every address."""
    expect(page).to_have_url(url(base_url, path))
    expect(page.get_by_role("heading", name="Consultez votre messagerie")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(
        "Si cette adresse est connue du service facturation"
    )


def activate(page: Page, base_url: str, sink: MailSink, email: str, password: str) -> None:
    """Activate the account of a seeded payer address; the page ends logged in, on home."""
    link = request_activation(page, base_url, sink, email)
    page.goto(link)
    expect(page.get_by_role("heading", name="Choisissez votre mot de passe")).to_be_visible()
    set_password_form(page, password)
    expect_logged_in_home(page, base_url, info="activated")


def login(
    page: Page,
    base_url: str,
    email: str,
    password: str,
    *,
    remember: bool = False,
    commune: str = COMMUNE,
) -> None:
    """Fill and send the login form (the outcome is for the caller to check)."""
    page.goto(url(base_url, commune=commune))
    assert_fields_labelled(page)
    page.get_by_label("Adresse de messagerie").fill(email)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    remember_box = page.get_by_label("Se souvenir de moi")
    if remember:
        remember_box.check()
    else:
        expect(remember_box).not_to_be_checked()
    page.get_by_role("button", name="Connexion", exact=True).click()


def expect_login_failed(page: Page, base_url: str) -> None:
    expect(page.get_by_role("alert")).to_have_text(LOGIN_FAILED)
    expect(page.get_by_role("navigation", name="Menu principal")).to_have_count(0)
    expect(page.get_by_label("Mot de passe", exact=True)).to_have_value("")


def logout(page: Page, base_url: str) -> None:
    main_menu(page).get_by_role("button", name="Déconnexion").click()
    expect_login_page(page, base_url)


def open_account_page(page: Page, base_url: str) -> None:
    """Go to "Mes informations" through the main menu."""
    main_menu(page).get_by_role("link", name="Mes informations").click()
    expect(page).to_have_url(url(base_url, "mes-informations"))
    expect(page.get_by_role("heading", name="Mes informations", level=1)).to_be_visible()
    assert_fields_labelled(page)
    assert_fits_the_width(page)


# --- Online payment ------------------------------------------------------------------------

PAYMENT_PASSWORD = "on paie la cantine en ligne"
"""The password of every payment journey's account (seeded active: activation has its tests)."""

ACCEPTED_CARD = "4242 4242 4242 4242"
REFUSED_CARD = "4000 0000 0000 0002"
RECEIPT_SUBJECT = "Reçu de votre paiement de"

# An invoice to seed: (régie, cents) to pay; (régie, cents, authorisation number) already paid
# online; (régie, cents, reference, mode, direct debit) paid in that mode ("chèque"...) or, with
# no mode, still to pay (on direct debit if True).
Seed = tuple[str, int] | tuple[str, int, str] | tuple[str, int, str, str, bool]

# Scenario -> (commune, its invoices). Every scenario has its own payer and account per
# viewport, so payments never share an invoice.
PAYMENT_SCENARIOS: dict[str, tuple[str, tuple[Seed, ...]]] = {
    "card": ("boe", (("CANT", 1234), ("CANT", 2010), ("PERI", 1500))),
    "basket": ("boe", (("CANT", 2345), ("CANT", 3456), ("PERI", 4567))),
    "refused": ("boe", (("CANT", 4321),)),
    "abandon": ("boe", (("PERI", 5432),)),
    "debit": ("boe", (("CANT", 6543),)),
    "lost": ("boe", (("CANT", 7654),)),
    "tipi": ("aure", (("MULTI", 8765), ("MULTI", 1999))),
    "steps": ("boe", (("CANT", 3210),)),
    # The basket on a phone: the garderie's invoices come first in the usual order (oldest
    # first), the canteen's one is paid from its detail, so its group must be moved up.
    "order": ("boe", (("PERI", 1310), ("PERI", 1320), ("PERI", 1330), ("CANT", 1340))),
    # Accessibility: the summary of 51,10 €, a refused then a pending payment, tap targets.
    "a11y": ("boe", (("CANT", 5110), ("CANT", 990), ("PERI", 1200))),
    # More invoices than a page holds (PER_PAGE, 20): the pagination.
    "pages": ("boe", tuple(("CANT", 100 + i) for i in range(21))),
    # "Réglées" after online payments, as PayFiP numbers its authorisations.
    "settled": ("boe", (("CANT", 6205, "540797953065-tip"), ("PERI", 2800, "540797953066-tip"))),
    # The rows of "Mes factures": one on direct debit to pay, one paid in each mode.
    "rows": (
        "boe",
        (
            ("CANT", 5110, "", "", True),
            ("CANT", 4210, "540797953067-tip"),
            ("PERI", 2800, "CHQ-0004512", "chèque", False),
            ("PERI", 1550, "", "espèces", False),
            ("CANT", 3120, "TPE-118204", "carte bancaire", False),
            ("CANT", 1875, "", "prélèvement", True),
            ("PERI", 96000, "", "virement", False),
        ),
    ),
}
PAYMENT_OBJECTS = {
    "CANT": "Restauration scolaire",
    "PERI": "Garderie",
    "MULTI": "Cantine et garderie",
}


@dataclass(frozen=True)
class SeededInvoice:
    number: str
    regie: str
    cents: int
    authorisation: str = ""
    """Set for an invoice seeded as already paid online (or the reference of one paid so)."""
    mode: str = ""
    """Set for an invoice seeded as paid in this mode, as a billing export words it."""
    direct_debit: bool = False


@dataclass(frozen=True)
class PaymentPayer:
    """The payer of a payment scenario at a viewport: an active account, its invoices."""

    scenario: str
    viewport: str

    @property
    def commune(self) -> str:
        return PAYMENT_SCENARIOS[self.scenario][0]

    @property
    def email(self) -> str:
        return payer_address(f"pay-{self.scenario}", self.viewport)

    @property
    def reference(self) -> str:
        return f"E2E-PAY-{self.scenario}-{self.viewport}".upper()

    @property
    def invoices(self) -> list[SeededInvoice]:
        """CANT-E2E-CARD-D1...: the invoice numbers say whose they are (as short as real ones)."""
        tag = f"E2E-{self.scenario}-{self.viewport[0]}".upper()
        return [
            SeededInvoice(f"{entry[0]}-{tag}{index}", *entry)
            for index, entry in enumerate(PAYMENT_SCENARIOS[self.scenario][1], start=1)
        ]

    def csv_rows(self) -> list[InvoiceRow]:
        """Rows for `e2e.seed.invoices_csv()`."""
        name = f"Famille {self.scenario.capitalize()} ({self.viewport})"
        return [
            InvoiceRow(
                self.reference,
                name,
                self.email,
                i.regie,
                i.number,
                i.cents,
                PAYMENT_OBJECTS[i.regie],
                i.authorisation,
                i.mode,
                i.direct_debit,
            )
            for i in self.invoices
        ]


def payment_payer(scenario: str, viewport: str) -> PaymentPayer:
    if scenario not in PAYMENT_SCENARIOS:
        raise KeyError(f"no payment scenario {scenario!r} in PAYMENT_SCENARIOS")
    return PaymentPayer(scenario, viewport)


# --- Accessibility --------------------------------------------------------------------------

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
_axe = Axe()


def assert_accessible(page: Page) -> None:
    """axe-core's WCAG 2.1 A and AA rules and its best practices find nothing wrong on the page
    as it is now (its state after htmx swaps included). Not a full RGAA audit, but every
    regression it can see. axe is injected by page.evaluate, which the portal's CSP allows
    (a <script> tag would be blocked); e2e/test_accessibility.py proves it runs."""
    results = _axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    violations = results.response["violations"]
    assert not violations, f"{page.url}:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}: {[n['target'] for n in v['nodes']][:5]}"
        for v in violations
    )
