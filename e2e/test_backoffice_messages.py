"""Message important and Messages des familles in a real browser, at desktop and tablet sizes:
a family writes, an agent answers, the family receives the answer by e-mail; an agent writes an
important message, previews it, publishes it, and the family sees it on the home page.

The demo account claire.martin@example.org (seeded by `portail seed-demo`) is the family. The
important message is shared with the other tests of the session (they expect the demo's): this
test puts it back as it found it, whatever happens.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from core.demo_accounts import DEMO_PASSWORD
from core.mail.sink import MailSink
from e2e.backoffice import BACKOFFICE_SIZES, agent_address, open_section, signed_in_agent
from e2e.journeys import (
    HOME_HEADING,
    MAIL_TIMEOUT,
    Viewport,
    assert_accessible,
    assert_fields_labelled,
    assert_fits_the_width,
    login,
    url,
)

pytestmark = pytest.mark.e2e

PARENT = "claire.martin@example.org"


def parent_signs_in(page: Page, base_url: str) -> None:
    login(page, base_url, PARENT, DEMO_PASSWORD)
    expect(page.get_by_role("heading", name=HOME_HEADING, level=1)).to_be_visible()


@BACKOFFICE_SIZES
def test_a_familys_message_is_answered_by_email(
    page: Page, viewport: Viewport, server_process: object, mail_sink: MailSink
) -> None:
    base_url = server_process.base_url  # type: ignore[attr-defined]
    parent_signs_in(page, base_url)
    page.goto(url(base_url, "contact"))
    question = f"Bonjour, la cantine de mars est-elle facturée ? ({viewport.name})"
    page.get_by_label("Message", exact=True).fill(question)
    page.get_by_role("button", name="Envoyer").click()
    expect(page.get_by_role("status")).to_contain_text("Votre message a été envoyé")

    email = agent_address("messages", viewport.name)
    signed_in_agent(page, server_process, mail_sink, email, "gestionnaire")
    open_section(page, "Messages des familles")
    expect(page.get_by_role("heading", level=1)).to_have_text("Messages des familles")
    row = page.get_by_role("row").filter(has_text=question)
    expect(row).to_contain_text("Non lu")
    assert_fits_the_width(page)
    assert_accessible(page)

    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Message de")
    expect(page.locator(".thread")).to_contain_text(question)
    assert_fields_labelled(page)
    answer = f"Bonjour, oui : elle figure sur la facture d’avril. ({viewport.name})"
    page.get_by_label("Votre réponse").fill(answer)
    page.get_by_role("button", name="Envoyer la réponse").click()
    expect(page.get_by_role("status")).to_contain_text("Votre réponse est envoyée")
    expect(page.locator(".thread")).to_contain_text(answer)
    assert_fits_the_width(page)
    assert_accessible(page)

    mail = mail_sink.wait_for(
        lambda m: PARENT in m.recipients and "Réponse du service" in m.subject and answer in m.text,
        timeout=MAIL_TIMEOUT,
    )
    assert question in mail.text


@BACKOFFICE_SIZES
def test_an_important_message_is_previewed_published_and_read_by_a_family(
    page: Page, viewport: Viewport, server_process: object, mail_sink: MailSink
) -> None:
    base_url = server_process.base_url  # type: ignore[attr-defined]
    email = agent_address("important", viewport.name)
    signed_in_agent(page, server_process, mail_sink, email, "gestionnaire")
    open_section(page, "Message important")
    expect(page.get_by_role("heading", level=1)).to_have_text("Message important")
    title, text = page.get_by_label("Titre"), page.get_by_label("Texte")
    found = (title.input_value(), text.input_value())
    was_published = page.get_by_role("button", name="Dépublier", exact=True).count() == 1
    heading = f"Travaux à la cantine ({viewport.name})"
    try:
        title.fill(heading)
        text.fill("La cantine ferme une semaine.\n\nDétails : https://www.boe.fr/travaux.")
        page.get_by_role("button", name="Aperçu").click()
        preview = page.locator(".preview")
        expect(preview).to_contain_text(heading)
        expect(preview.get_by_role("link", name="https://www.boe.fr/travaux")).to_have_attribute(
            "href", "https://www.boe.fr/travaux"
        )
        assert_fits_the_width(page)
        assert_accessible(page)
        page.get_by_role("button", name="Enregistrer").click()
        expect(page.get_by_role("status")).to_contain_text("Le message important est enregistré")
        if page.get_by_role("button", name="Publier", exact=True).count():
            page.get_by_role("button", name="Publier", exact=True).click()
            expect(page.get_by_role("status")).to_contain_text("est publié")

        parent_signs_in(page, base_url)
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(heading)
        expect(dialog.get_by_role("link", name="https://www.boe.fr/travaux")).to_be_visible()
    finally:
        _put_back(page, base_url, found, was_published)


def _put_back(page: Page, base_url: str, found: tuple[str, str], was_published: bool) -> None:
    """The important message as the test found it: its text, and published or not."""
    page.goto(url(base_url, "gestion/message-important"))
    if not found[1]:
        # There was none: withdraw ours (the other tests see no message either).
        if page.get_by_role("button", name="Dépublier", exact=True).count():
            page.get_by_role("button", name="Dépublier", exact=True).click()
        return
    page.get_by_label("Titre").fill(found[0])
    page.get_by_label("Texte").fill(found[1])
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_role("status")).to_contain_text("Le message important est enregistré")
    published = page.get_by_role("button", name="Dépublier", exact=True).count() == 1
    if published != was_published:
        page.get_by_role("button", name="Dépublier" if published else "Publier", exact=True).click()
        expect(page.get_by_role("status")).to_be_visible()
