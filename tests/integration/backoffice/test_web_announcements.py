"""Message important and Actualités in the back office: write, preview, publish, withdraw,
delete, and what a parent's home page shows at each step."""

from __future__ import annotations

import re

import pytest

from core.announcements import services
from core.announcements.tables import Announcement
from core.backoffice.tables import GESTIONNAIRE, LECTEUR, JournalEntry
from tests.integration.backoffice.web import commune_of, signed_in_agent
from tests.integration.conftest import Portal, sign_in

MESSAGE = "/boe/gestion/message-important"
NEWS = "/boe/gestion/actualites"
XSS = 'Voir https://www.boe.fr/tarifs.\n\n<script>alert(1)</script> javascript:alert(2) https://x.fr/"onmouseover="alert(3)'


async def home(portal: Portal) -> str:
    return (await portal.client.get("/boe/")).text


async def actions() -> list[str]:
    """The journal's actions on announcements (creating the agents is journalled too)."""
    rows = await JournalEntry.select(JournalEntry.action).order_by(JournalEntry.id)
    return [r["action"] for r in rows if r["action"].startswith(("announcements.", "news."))]


async def test_important_message_write_preview_publish_unpublish_delete(portal: Portal) -> None:
    await sign_in(portal)  # a parent of Boé, in the same client (another cookie path)
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    page = await portal.client.get(MESSAGE)
    assert page.status_code == 200
    assert "<h1>Message important</h1>" in page.text
    assert "Aucun message important pour le moment." in page.text
    assert 'aria-current="page">Message important</a>' in page.text

    # Preview without JavaScript: the page again, the text as parents see it, nothing saved.
    form = {"title": "Fermeture", "body": XSS}
    preview = await portal.post_form(MESSAGE + "/apercu", form, form_page=MESSAGE)
    assert preview.status_code == 200
    assert 'class="preview"' in preview.text and "<h3>Fermeture</h3>" in preview.text
    assert '<a href="https://www.boe.fr/tarifs" rel="noopener noreferrer nofollow">' in preview.text
    assert "<script>alert(1)" not in preview.text and "&lt;script&gt;alert(1)" in preview.text
    assert 'href="https://x.fr/"' in preview.text and '"onmouseover' not in preview.text
    assert ">Fermeture</textarea>" not in preview.text and XSS.split("\n")[0] in preview.text
    assert await Announcement.count() == 0
    # With htmx: only the preview block.
    fragment = await portal.post_form(MESSAGE + "/apercu", form, form_page=MESSAGE, htmx=True)
    assert fragment.text.lstrip().startswith('<div id="preview"') and "<h1>" not in fragment.text
    # An empty text: the errors, tied to the field, what was typed kept.
    empty = await portal.post_form(
        MESSAGE + "/apercu", {"title": "Fermeture", "body": " "}, form_page=MESSAGE
    )
    assert empty.status_code == 422 and "<title>Erreur – Message important" in empty.text
    assert 'aria-invalid="true"' in empty.text and "Le texte est vide." in empty.text
    assert 'value="Fermeture"' in empty.text
    empty_fragment = await portal.post_form(
        MESSAGE + "/apercu", {"title": "", "body": ""}, form_page=MESSAGE, htmx=True
    )
    assert empty_fragment.status_code == 422 and 'role="alert"' in empty_fragment.text

    # Saved: a draft, parents see nothing.
    saved = await portal.post_form(MESSAGE, form)
    assert saved.status_code == 303
    assert saved.headers["location"] == MESSAGE + "?info=message_saved"
    page = (await portal.client.get(saved.headers["location"])).text
    assert "Le message important est enregistré." in page and "non publié" in page
    assert "<dialog" not in await home(portal)

    # Published: parents see it, escaped, links made.
    await portal.post_form(MESSAGE + "/publier", {}, form_page=MESSAGE)
    text = await home(portal)
    dialog = re.search(r"<dialog open.*?</dialog>", text, re.S)
    assert dialog, text
    assert "Fermeture" in dialog.group(0)
    assert '<a href="https://www.boe.fr/tarifs" rel="noopener noreferrer nofollow">' in text
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "javascript:alert(2)" in text and 'href="javascript' not in text

    # The parent closes it; a changed text comes back.
    message = await services.current_message(commune_of(portal, "boe").id)
    assert message is not None and message.published
    await portal.post_form(
        "/boe/message/fermer",
        {"message": str(message.id), "version": str(message.version)},
        form_page="/boe/",
    )
    assert "<dialog" not in await home(portal)
    await portal.post_form(MESSAGE, {"title": "Fermeture", "body": "Fermé lundi."})
    assert "Fermé lundi." in await home(portal)

    # Unpublished: gone for parents, kept for the agents.
    response = await portal.post_form(MESSAGE + "/depublier", {}, form_page=MESSAGE)
    assert response.headers["location"] == MESSAGE + "?info=message_unpublished"
    assert "<dialog" not in await home(portal)
    page = (await portal.client.get(MESSAGE)).text
    assert "Fermé lundi.</textarea>" in page and ">Publier</button>" in page

    # Published again: shown again, even to a parent who had closed it.
    await portal.post_form(MESSAGE + "/publier", {}, form_page=MESSAGE)
    assert "Fermé lundi." in await home(portal)

    # Deleted, after the confirmation inside a <details>.
    page = (await portal.client.get(MESSAGE)).text
    assert "<details" in page and "Confirmer la suppression" in page
    response = await portal.post_form(MESSAGE + "/supprimer", {}, form_page=MESSAGE)
    assert response.headers["location"] == MESSAGE + "?info=message_deleted"
    assert await Announcement.count() == 0
    assert "<dialog" not in await home(portal)
    # Nothing left to publish or delete: 404.
    assert (await portal.post_form(MESSAGE + "/publier", {}, form_page=MESSAGE)).status_code == 404

    assert await actions() == [
        "announcements.create",
        "announcements.publish",
        "announcements.update",
        "announcements.unpublish",
        "announcements.publish",
        "announcements.delete",
    ]
    entry = await JournalEntry.select().where(JournalEntry.action == "announcements.update").first()
    assert entry["target"] == "message important" and "Fermé lundi." in entry["after"]
    assert "gestion@boe.test" in entry["actor_label"]


async def test_the_command_line_still_publishes_directly(portal: Portal) -> None:
    await sign_in(portal)
    boe = commune_of(portal, "boe").id
    message = await services.set_message(boe, "Publié d'office.")
    assert message.published and "Publié d" in await home(portal)
    await services.add_news(boe, "Rentrée", "Texte")
    assert "Rentrée" in await home(portal)
    assert await actions() == []  # the command line journals nothing here


async def test_news_create_preview_publish_edit_unpublish_delete(portal: Portal) -> None:
    await sign_in(portal)
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    listing = (await portal.client.get(NEWS)).text
    assert "<h1>Actualités</h1>" in listing and "Aucune actualité pour le moment." in listing

    new = NEWS + "/nouvelle"
    form = {"title": "Rentrée <b>2026</b>", "body": XSS}
    preview = await portal.post_form(new + "/apercu", form, form_page=new)
    assert preview.status_code == 200 and 'class="preview"' in preview.text
    assert "Rentrée &lt;b&gt;2026&lt;/b&gt;" in preview.text
    assert "<script>alert(1)" not in preview.text
    fragment = await portal.post_form(new + "/apercu", form, form_page=new, htmx=True)
    assert fragment.text.lstrip().startswith('<div id="preview"')
    refused = await portal.post_form(new, {"title": " ", "body": "Texte"})
    assert refused.status_code == 422 and "Le titre est vide." in refused.text
    assert (
        "<title>Erreur – Nouvelle actualité" in refused.text and "Texte</textarea>" in refused.text
    )

    created = await portal.post_form(new, form)
    assert created.status_code == 303
    location = created.headers["location"]
    news_id = int(re.search(r"/actualites/(\d+)\?info=news_saved", location).group(1))  # type: ignore[union-attr]
    item = f"{NEWS}/{news_id}"
    assert "brouillon" in (await portal.client.get(location)).text
    assert "Rentrée" not in await home(portal)  # a draft
    listing = (await portal.client.get(NEWS)).text
    assert "Brouillon" in listing and f'href="{item}"' in listing

    await portal.post_form(item + "/publier", {}, form_page=item)
    text = await home(portal)
    assert "Rentrée &lt;b&gt;2026&lt;/b&gt;" in text and "<script>alert(1)" not in text
    assert '<a href="https://www.boe.fr/tarifs" rel="noopener noreferrer nofollow">' in text
    assert "Publiée" in (await portal.client.get(NEWS)).text

    edited = await portal.post_form(item, {"title": "Rentrée", "body": "Nouveau texte."})
    assert edited.headers["location"] == item + "?info=news_saved"
    assert "Nouveau texte." in await home(portal)

    await portal.post_form(item + "/depublier", {}, form_page=item)
    assert "Nouveau texte." not in await home(portal)
    deleted = await portal.post_form(item + "/supprimer", {}, form_page=item)
    assert deleted.headers["location"] == NEWS + "?info=news_deleted"
    assert (await portal.client.get(item)).status_code == 404
    assert await actions() == [
        "news.create",
        "news.publish",
        "news.update",
        "news.unpublish",
        "news.delete",
    ]


async def test_news_list_is_paginated_newest_first(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    boe = commune_of(portal, "boe").id
    for number in range(52):
        await services.add_news(boe, f"Actualité {number:02d}", "Texte", publish=number % 2 == 0)
    first = (await portal.client.get(NEWS)).text
    assert first.count("<tr>") == 51  # the header row and 50 items
    assert first.index("Actualité 51") < first.index("Actualité 50")
    assert "Page 1 sur 2" in first and f'href="{NEWS}?page=2"' in first
    second = (await portal.client.get(NEWS + "?page=2")).text
    assert "Actualité 01" in second and "Actualité 00" in second and "Actualité 51" not in second


async def test_another_communes_news_is_a_404(portal: Portal) -> None:
    aure = commune_of(portal, "aure").id
    news_id = await services.add_news(aure, "Secret d'Aure", "Texte d'Aure")
    await services.set_message(aure, "Message d'Aure")
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    item = f"{NEWS}/{news_id}"
    response = await portal.client.get(item)
    assert response.status_code == 404 and "Aure" not in response.text
    for action in ("", "/publier", "/depublier", "/supprimer", "/apercu"):
        form = {"title": "x", "body": "y"}
        answer = await portal.post_form(item + action, form, form_page=NEWS)
        assert answer.status_code == 404, action
        assert "Aure" not in answer.text
    assert "Aure" not in (await portal.client.get(NEWS)).text
    assert "Aure" not in (await portal.client.get(MESSAGE)).text
    assert (await services.get_news(aure, news_id)) is not None


@pytest.mark.parametrize("path", [MESSAGE, NEWS, NEWS + "/nouvelle"])
async def test_a_lecteur_may_not_open_the_announcement_screens(portal: Portal, path: str) -> None:
    await signed_in_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    assert (await portal.client.get(path)).status_code == 403
    dashboard = (await portal.client.get("/boe/gestion/")).text
    assert "Message important" not in dashboard and "Actualités" not in dashboard
    token = await portal.csrf("/boe/gestion/")
    response = await portal.client.post(
        MESSAGE + "/publier", data={"_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 403
