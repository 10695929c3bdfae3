"""Messages des familles: the list, reading, answering by e-mail, marking handled, who may
do what, and one commune never seeing another's messages."""

from __future__ import annotations

import datetime as dt
import re

from core.backoffice.tables import GESTIONNAIRE, LECTEUR, ContactReply, JournalEntry
from core.contact.tables import ContactMessage
from tests.integration.backoffice.web import commune_of, signed_in_agent
from tests.integration.conftest import Portal, sign_in

MESSAGES = "/boe/gestion/messages"
PARENT = "claire@example.org"
REPLY_SUBJECT = "Réponse du service facturation de Ville de Boé"


async def send_contact(portal: Portal, text: str, email: str = PARENT, slug: str = "boe") -> int:
    """The signed-in parent writes from the Contact page; returns the message's id."""
    response = await portal.post_form(
        f"/{slug}/contact", {"name": "Claire Martin", "email": email, "message": text}
    )
    assert response.status_code == 303, response.text
    row = (
        await ContactMessage.select(ContactMessage.id)
        .order_by(ContactMessage.id, ascending=False)
        .first()
    )
    return int(row["id"])


async def journal_actions() -> list[str]:
    rows = await JournalEntry.select(JournalEntry.action).order_by(JournalEntry.id)
    return [r["action"] for r in rows if r["action"].startswith("contact.")]


async def test_read_reply_and_mark_handled(portal: Portal) -> None:
    await sign_in(portal)
    first = await send_contact(portal, "Bonjour,\n\nune question sur la facture <b>12</b>.")
    second = await send_contact(portal, "Second message.", email="reponse@example.org")
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)

    dashboard = (await portal.client.get("/boe/gestion/")).text
    figure = re.search(r'<li class="figure figure--alert">[^\n]*non traités[^\n]*</li>', dashboard)
    assert figure and '<p class="figure__value">2</p>' in figure.group(0)
    assert f'href="{MESSAGES}?filtre=non-traites"' in figure.group(0)

    listing = (await portal.client.get(MESSAGES)).text
    assert 'aria-current="page">Messages des familles</a>' in listing
    assert listing.count('<tr class="unread">') == 2 and listing.count("Non lu") == 2
    assert listing.index("Second message.") < listing.index("une question")  # newest first
    assert "&lt;b&gt;12&lt;/b&gt;" in listing and "<b>12</b>" not in listing
    assert '<caption id="messages-caption">' in listing and 'scope="col"' in listing

    # Opening it marks it read.
    page = await portal.client.get(f"{MESSAGES}/{first}")
    assert page.status_code == 200 and "<h1>Message de Claire Martin</h1>" in page.text
    assert "Envoyer la réponse" in page.text and "Marquer comme traité" in page.text
    listing = (await portal.client.get(MESSAGES)).text
    assert listing.count('<tr class="unread">') == 1

    # An empty answer: the error tied to the field, nothing sent.
    refused = await portal.post_form(
        f"{MESSAGES}/{first}/repondre", {"reply": "  "}, form_page=f"{MESSAGES}/{first}"
    )
    assert refused.status_code == 422 and "Veuillez écrire votre réponse." in refused.text
    assert "<title>Erreur – Message de Claire Martin" in refused.text
    assert 'aria-invalid="true"' in refused.text and await ContactReply.count() == 0

    # The answer goes to the family by e-mail, joins the thread, and the message is handled.
    answer = "Bonjour,\n\nla facture 12 est corrigée. <i>Cordialement</i>"
    response = await portal.post_form(
        f"{MESSAGES}/{first}/repondre", {"reply": answer}, form_page=f"{MESSAGES}/{first}"
    )
    assert response.headers["location"] == f"{MESSAGES}/{first}?info=contact_replied"
    mail = await portal.mail_to(PARENT, REPLY_SUBJECT)
    assert "la facture 12 est corrigée." in mail.text and "une question sur la facture" in mail.text
    assert "http://portail.test/boe/contact" in mail.text
    page = (await portal.client.get(response.headers["location"])).text
    assert "Votre réponse est envoyée à la famille" in page
    assert "&lt;i&gt;Cordialement&lt;/i&gt;" in page
    assert "Réponse envoyée par Agent gestionnaire" in page
    assert "Traité</span> le" in page and "Marquer comme traité" not in page
    row = await ContactMessage.select().where(ContactMessage.id == first).first()
    assert row["handled_at"] is not None and row["handled_by"] is not None

    waiting = (await portal.client.get(f"{MESSAGES}?filtre=non-traites")).text
    assert "Second message." in waiting and "une question" not in waiting

    # Marked handled without an answer (answered by phone, say); read at the same time.
    response = await portal.post_form(
        f"{MESSAGES}/{second}/traite", {}, form_page=f"{MESSAGES}/{second}"
    )
    assert response.headers["location"] == f"{MESSAGES}/{second}?info=contact_handled"
    waiting = (await portal.client.get(f"{MESSAGES}?filtre=non-traites")).text
    assert "Aucun message en attente : tout est traité." in waiting
    dashboard = (await portal.client.get("/boe/gestion/")).text
    assert "figure--alert" not in dashboard.split("non traités")[0].rsplit("<li", 1)[1]

    assert await journal_actions() == ["contact.reply", "contact.handled"]
    entry = await JournalEntry.select().where(JournalEntry.action == "contact.reply").first()
    assert entry["target"] == f"message n° {first} de Claire Martin"
    assert PARENT in entry["after"] and "gestion@boe.test" in entry["actor_label"]


async def test_another_communes_message_is_a_404(portal: Portal) -> None:
    await sign_in(portal, "aure", "parent@aure.test")
    aure_message = await send_contact(portal, "Message d'Aure", "parent@aure.test", "aure")
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    listing = (await portal.client.get(MESSAGES)).text
    assert "Aure" not in listing and "Aucun message pour le moment." in listing
    page = await portal.client.get(f"{MESSAGES}/{aure_message}")
    assert page.status_code == 404 and "Aure" not in page.text
    for action, form in (("repondre", {"reply": "Bonjour"}), ("traite", {})):
        response = await portal.post_form(
            f"{MESSAGES}/{aure_message}/{action}", form, form_page=MESSAGES
        )
        assert response.status_code == 404 and "Aure" not in response.text
    row = await ContactMessage.select().where(ContactMessage.id == aure_message).first()
    assert row["read_at"] is None and row["handled_at"] is None
    assert await ContactReply.count() == 0


async def test_a_lecteur_reads_but_may_not_answer(portal: Portal) -> None:
    await sign_in(portal)
    message_id = await send_contact(portal, "Une question.")
    await signed_in_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    assert "Une question." in (await portal.client.get(MESSAGES)).text
    page = await portal.client.get(f"{MESSAGES}/{message_id}")
    assert page.status_code == 200 and "Une question." in page.text
    assert "Envoyer la réponse" not in page.text and "Marquer comme traité" not in page.text
    for action, form in (("repondre", {"reply": "Bonjour"}), ("traite", {})):
        response = await portal.post_form(
            f"{MESSAGES}/{message_id}/{action}", form, form_page=MESSAGES
        )
        assert response.status_code == 403
    assert await ContactReply.count() == 0 and await journal_actions() == []


async def test_the_list_is_paginated(portal: Portal) -> None:
    boe = commune_of(portal, "boe").id
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    await ContactMessage.insert(
        *[
            ContactMessage(
                commune=boe,
                name=f"Famille {number:02d}",
                email="f@example.org",
                body="Texte",
                created_at=start + dt.timedelta(minutes=number),
            )
            for number in range(53)
        ]
    )
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    first = (await portal.client.get(MESSAGES)).text
    assert first.count('<tr class="unread">') == 50 and "Famille 52" in first
    assert "Page 1 sur 2" in first and f'href="{MESSAGES}?page=2"' in first
    second = (await portal.client.get(f"{MESSAGES}?page=2")).text
    assert "Famille 00" in second and "Famille 52" not in second
    waiting = (await portal.client.get(f"{MESSAGES}?filtre=non-traites")).text
    assert f'href="{MESSAGES}?filtre=non-traites&amp;page=2"' in waiting
