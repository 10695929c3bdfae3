"""The parent's space: home (important message, news), Contact, alert addresses, paper opt-out,
and the `portail news|message` commands. Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from litestar import Litestar

from core.accounts.tables import Account
from core.alert_addresses.tables import AlertAddress
from core.announcements import command, services
from core.announcements.tables import Announcement, MessageDismissal
from core.app import create_app
from core.communes.tables import Commune
from core.config import parse_config
from core.contact.tables import ContactMessage
from core.db import Engine
from core.invoices.alerts import alert_recipients
from core.mail.sink import MailSink
from core.mail.tables import OutboundEmail
from core.settings import Settings
from core.web.identity import SignedIn
from plugins.paper_optout.services import Preference
from plugins.paper_optout.tables import PaperPreference
from tests.integration.conftest import CONFIG, GOOD_PASSWORD, Portal, add_payer, serve

ROOT = Path(__file__).resolve().parents[2]
CLAIRE = "claire@example.org"


async def sign_in(portal: Portal, slug: str = "boe", email: str = CLAIRE) -> int:
    """A payer known by `email`, its account activated (which logs the parent in)."""
    ref = f"{slug.upper()}1" if email == CLAIRE else f"{slug.upper()}-{email.split('@')[0]}"
    await add_payer(slug, ref, "Famille Martin", email)
    await portal.activate(slug, email)
    portal.sink.clear()
    row = await Account.select(Account.id).where(Account.email == email).first()
    return int(row["id"])


async def commune_id(slug: str) -> int:
    row = await Commune.select(Commune.id).where(Commune.slug == slug).first()
    return int(row["id"])


async def outbox_to(address: str) -> list[dict]:
    return await OutboundEmail.select().where(OutboundEmail.recipient == address)


# --- Home: the important message ------------------------------------------------------------


async def test_important_message_is_a_dialog_that_stays_closed_until_it_changes(
    portal: Portal,
) -> None:
    await sign_in(portal)
    boe = await commune_id("boe")
    message = await services.set_message(boe, "Paiement suspendu.\n\nMerci.", title="Maintenance")

    home = (await portal.client.get("/boe/")).text
    dialog = re.search(r"<dialog open[^>]*>.*?</dialog>", home, re.S)
    assert dialog, home
    assert 'aria-labelledby="important-message-title"' in dialog.group(0)
    assert '<h2 id="important-message-title">Maintenance</h2>' in dialog.group(0)
    assert '<p class="important-message__text">Paiement suspendu.</p>' in dialog.group(0)
    assert 'action="/boe/message/fermer"' in dialog.group(0)
    assert 'name="_csrf_token"' in dialog.group(0)
    assert '<button type="submit" class="button">Fermer</button>' in dialog.group(0)
    # First on the page, right after its title; the welcome text and the tiles stay.
    assert home.index("<h1>") < home.index("<dialog") < home.index("Un espace personnel")
    assert '<a class="tile" href="/boe/factures">' in home

    # Closing it without JavaScript: a real form, then back to the home page.
    response = await portal.post_form(
        "/boe/message/fermer",
        {"message": str(message.id), "version": str(message.version)},
        form_page="/boe/",
    )
    assert response.status_code == 303 and response.headers["location"] == "/boe/"
    assert "<dialog" not in (await portal.client.get("/boe/")).text

    # The same text published again is no change: it stays closed.
    assert (
        await services.set_message(boe, "Paiement suspendu.\n\nMerci.", "Maintenance")
    ).version == 1
    assert "<dialog" not in (await portal.client.get("/boe/")).text

    # A new text is a new version: it comes back, and closes again with htmx (empty fragment).
    changed = await services.set_message(boe, "Paiement rétabli lundi.", title="Maintenance")
    assert changed.version == 2 and changed.id == message.id
    home = (await portal.client.get("/boe/")).text
    assert "<dialog open" in home and "Paiement rétabli lundi." in home
    assert 'hx-post="/boe/message/fermer"' in home and 'hx-target="#important-message"' in home
    response = await portal.post_form(
        "/boe/message/fermer",
        {"message": str(changed.id), "version": "2"},
        form_page="/boe/",
        htmx=True,
    )
    assert response.status_code == 200 and "<dialog" not in response.text
    assert 'id="important-message"' in response.text and "autofocus" in response.text
    assert "Message fermé." in response.text  # where the focus stays, for screen readers
    assert response.headers["vary"] == "HX-Request"
    assert "<dialog" not in (await portal.client.get("/boe/")).text
    dismissal = await MessageDismissal.select().first()
    assert dismissal["version"] == 2


async def test_a_closed_message_is_per_account_and_per_commune(portal: Portal) -> None:
    await sign_in(portal, "boe")
    boe, aure = await commune_id("boe"), await commune_id("aure")
    message = await services.set_message(boe, "Message de Boé")
    await portal.post_form(
        "/boe/message/fermer", {"message": str(message.id), "version": "1"}, form_page="/boe/"
    )
    assert "<dialog" not in (await portal.client.get("/boe/")).text

    # Another parent of Boé still sees it; Aure's parents never see Boé's message.
    portal.client.cookies.clear()
    await sign_in(portal, "boe", "autre@example.org")
    assert "Message de Boé" in (await portal.client.get("/boe/")).text
    await sign_in(portal, "aure", "autre@example.org")
    aure_home = (await portal.client.get("/aure/")).text
    assert "Bienvenue" in aure_home and "<dialog" not in aure_home

    # Closing Aure's message with Boé's id does nothing; a bad form is harmless.
    aure_message = await services.set_message(aure, "Message d'Aure")
    response = await portal.post_form(
        "/aure/message/fermer", {"message": str(message.id), "version": "1"}, form_page="/aure/"
    )
    assert response.status_code == 303
    assert "Message d&#39;Aure" in (await portal.client.get("/aure/")).text
    response = await portal.post_form(
        "/aure/message/fermer", {"message": "x", "version": ""}, form_page="/aure/"
    )
    assert response.status_code == 303
    assert "<dialog open" in (await portal.client.get("/aure/")).text
    assert aure_message.id != message.id

    # Withdrawn: gone for everyone, dismissals with it.
    assert await services.clear_message(boe) is True
    assert await services.clear_message(boe) is False
    assert await MessageDismissal.count() == 0


async def test_closing_the_message_needs_a_login(portal: Portal) -> None:
    token = await portal.csrf("/boe/connexion")
    response = await portal.client.post(
        "/boe/message/fermer",
        data={"message": "1", "version": "1", "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/boe/connexion"


# --- Home: news -----------------------------------------------------------------------------


async def test_news_newest_first_escaped_and_per_commune(portal: Portal) -> None:
    await sign_in(portal)
    boe = await commune_id("boe")
    paris = dt.timezone(dt.timedelta(hours=1))
    await services.add_news(
        boe,
        "Rentrée <b>scolaire</b>",
        "Les tarifs changent.\n\n<script>alert(1)</script>\nSecond line",
        published_at=dt.datetime(2026, 9, 1, 8, tzinfo=paris),
    )
    await services.add_news(
        boe,
        "Nouveaux horaires",
        "Le service ouvre à 8 h.",
        published_at=dt.datetime(2026, 10, 5, 8, tzinfo=paris),
    )
    home = (await portal.client.get("/boe/")).text
    assert '<h2 id="news-title">Actualités</h2>' in home
    assert home.index("Nouveaux horaires") < home.index("Rentrée")  # newest first
    assert "05/10/2026" in home and "01/09/2026" in home
    assert "Rentrée &lt;b&gt;scolaire&lt;/b&gt;" in home
    assert "<script>alert" not in home and "&lt;script&gt;alert(1)&lt;/script&gt;" in home
    assert '<p class="news__text">Les tarifs changent.</p>' in home  # a paragraph per block
    assert home.index("Un espace personnel") < home.index("Actualités")

    await sign_in(portal, "aure", "autre@example.org")
    aure_home = (await portal.client.get("/aure/")).text
    assert "Nouveaux horaires" not in aure_home and "Aucune actualité pour le moment." in aure_home


async def test_publishing_refuses_empty_or_oversized_texts(
    clean_db: Engine, portal: Portal
) -> None:
    boe = await commune_id("boe")
    with pytest.raises(services.AnnouncementError, match="titre est vide"):
        await services.add_news(boe, "  ", "texte")
    with pytest.raises(services.AnnouncementError, match="texte est vide"):
        await services.set_message(boe, " \n ")
    with pytest.raises(services.AnnouncementError, match="ne doit pas dépasser"):
        await services.add_news(boe, "x" * 201, "texte")
    news_id = await services.add_news(boe, "Titre", "Texte")
    assert await services.update_news(boe, news_id, "Titre 2", "Texte 2") is True
    assert [n.title for n in await services.list_news(boe)] == ["Titre 2"]
    assert await services.delete_news(await commune_id("aure"), news_id) is False
    assert await services.delete_news(boe, news_id) is True


# --- Contact --------------------------------------------------------------------------------


async def test_contact_form_is_prefilled_with_the_general_information(portal: Portal) -> None:
    await sign_in(portal)
    page = (await portal.client.get("/boe/contact")).text
    assert "<h1>Contacter le service</h1>" in page
    assert 'name="name" type="text" value="Famille Martin"' in page
    assert f'name="email" type="email" value="{CLAIRE}"' in page
    assert '<textarea id="message" name="message"' in page and 'maxlength="5000"' in page
    assert 'type="reset"' not in page  # one slip of the finger would wipe the message
    assert '<button type="submit" class="button">Envoyer</button>' in page
    assert "Informations générales" in page
    assert "05 53 00 00 00" in page and "9h-12h" in page and "facturation@boe.test" in page
    assert '<label for="message">Message</label>' in page


async def test_contact_validation_keeps_what_was_typed(portal: Portal) -> None:
    await sign_in(portal)
    response = await portal.post_form(
        "/boe/contact", {"name": "Claire Martin", "email": "pas-une-adresse", "message": "  "}
    )
    assert response.status_code == 422
    assert "Veuillez écrire votre message." in response.text
    assert "Veuillez saisir une adresse de messagerie valide" in response.text
    assert 'value="Claire Martin"' in response.text and 'value="pas-une-adresse"' in response.text
    assert 'aria-invalid="true"' in response.text

    too_long = "a" * 5001
    response = await portal.post_form(
        "/boe/contact", {"name": "Claire", "email": CLAIRE, "message": too_long}
    )
    assert response.status_code == 422
    assert "Le message ne doit pas dépasser 5\u202f000 caractères." in response.text
    assert f">{too_long}</textarea>" in response.text
    response = await portal.post_form(
        "/boe/contact", {"name": "", "email": CLAIRE, "message": "<b>Bonjour</b>"}
    )
    assert "Veuillez indiquer votre nom." in response.text
    assert "&lt;b&gt;Bonjour&lt;/b&gt;</textarea>" in response.text
    assert await ContactMessage.count() == 0 and await outbox_to("facturation@boe.test") == []


async def test_contact_message_is_stored_and_mailed_to_the_service_with_a_copy(
    portal: Portal,
) -> None:
    account_id = await sign_in(portal)
    response = await portal.post_form(
        "/boe/contact",
        {
            "name": "Claire Martin",
            "email": "claire.pro@example.org",
            "message": "Bonjour,\r\nla facture de mars est en double.",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/boe/contact?info=contact_sent"
    page = (await portal.client.get(response.headers["location"])).text
    assert "Votre message a été envoyé au service facturation." in page

    stored = await ContactMessage.select().first()
    assert stored["account"] == account_id and stored["commune"] == await commune_id("boe")
    assert stored["name"] == "Claire Martin" and stored["email"] == "claire.pro@example.org"
    assert stored["body"] == "Bonjour,\nla facture de mars est en double."

    service = await portal.mail_to("facturation@boe.test", "message de Claire Martin")
    assert "la facture de mars est en double." in service.text
    assert "Adresse pour la réponse : claire.pro@example.org" in service.text
    assert f"Adresse du compte sur le portail : {CLAIRE}" in service.text
    # The copy goes to the account's verified address, not to the one typed in the form.
    copy_ = await portal.mail_to(CLAIRE, "Copie de votre message")
    assert "la facture de mars est en double." in copy_.text
    assert await outbox_to("claire.pro@example.org") == []


async def test_contact_is_rate_limited_per_account(portal: Portal) -> None:
    await sign_in(portal)
    form = {"name": "Claire", "email": CLAIRE, "message": "Bonjour"}
    for _ in range(10):
        assert (await portal.post_form("/boe/contact", form)).status_code == 303
    response = await portal.post_form("/boe/contact", form)
    assert response.status_code == 429
    assert "Vous avez envoyé de nombreux messages en peu de temps" in response.text
    assert 'value="Claire"' in response.text and ">Bonjour</textarea>" in response.text
    assert await ContactMessage.count() == 10


async def test_contact_needs_a_login(portal: Portal) -> None:
    response = await portal.client.get("/boe/contact", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/boe/connexion"


# --- Alert addresses ------------------------------------------------------------------------


async def add_alert(portal: Portal, email: str, *, htmx: bool = False) -> object:
    return await portal.post_form(
        "/boe/mes-informations/alertes",
        {"alert_email": email},
        form_page="/boe/mes-informations",
        htmx=htmx,
    )


async def test_alert_address_is_used_only_once_confirmed(portal: Portal) -> None:
    account_id = await sign_in(portal)
    page = (await portal.client.get("/boe/mes-informations")).text
    assert 'id="alerts-section"' in page and "Être averti des nouvelles factures" in page
    assert "jusqu’à 3 autres adresses" in page

    response = await add_alert(portal, " Papa@Example.org ")
    assert response.status_code == 303
    assert response.headers["location"] == "/boe/mes-informations?info=alert_added#alerts-section"
    page = (await portal.client.get("/boe/mes-informations")).text
    assert "papa@example.org" in page and "En attente de confirmation" in page
    assert await alert_recipients([account_id]) == {account_id: [CLAIRE]}

    mail = await portal.mail_to("papa@example.org", "confirmez cette adresse")
    assert CLAIRE in mail.text
    link = await portal.link_in_mail("papa@example.org")
    assert link.startswith("/boe/alerte/")

    # Opening the link (as a mail scanner would) confirms nothing.
    confirm_page = await portal.client.get(link)
    assert confirm_page.status_code == 200
    assert (
        "Confirmer cette adresse" in confirm_page.text and "papa@example.org" in confirm_page.text
    )
    assert await alert_recipients([account_id]) == {account_id: [CLAIRE]}
    # The link belongs to Boé.
    assert (await portal.client.get(link.replace("/boe/", "/aure/"))).status_code == 410

    response = await portal.post_form(link, {})
    assert response.status_code == 303 and response.headers["location"] == "/boe/alerte/confirmee"
    done = await portal.client.get("/boe/alerte/confirmee")
    assert "L’adresse est confirmée" in done.text
    assert await alert_recipients([account_id]) == {account_id: [CLAIRE, "papa@example.org"]}
    assert "Confirmée" in (await portal.client.get("/boe/mes-informations")).text

    # Single use.
    again = await portal.post_form(link, {}, form_page="/boe/mes-informations")
    assert again.status_code == 410 and "Ce lien n’est plus valide" in again.text


async def test_alert_addresses_refuse_duplicates_and_stop_at_three(portal: Portal) -> None:
    account_id = await sign_in(portal)
    assert (await add_alert(portal, "un@example.org")).status_code == 303

    response = await add_alert(portal, "UN@example.org")
    assert (
        response.status_code == 422 and "Cette adresse figure déjà dans la liste." in response.text
    )
    assert 'value="UN@example.org"' in response.text
    response = await add_alert(portal, CLAIRE)
    assert (
        response.status_code == 422 and "Cette adresse est celle de votre compte" in response.text
    )
    response = await add_alert(portal, "n'importe quoi")
    assert response.status_code == 422 and "adresse de messagerie valide" in response.text

    assert (await add_alert(portal, "deux@example.org")).status_code == 303
    assert (await add_alert(portal, "trois@example.org")).status_code == 303
    page = (await portal.client.get("/boe/mes-informations")).text
    assert "Vous avez atteint le maximum de 3 adresses" in page
    assert 'action="/boe/mes-informations/alertes"' not in page  # no more add form
    response = await add_alert(portal, "quatre@example.org")
    assert response.status_code == 422 and "Vous avez déjà 3 adresses d’alerte" in response.text
    assert await AlertAddress.count().where(AlertAddress.account == account_id) == 3


async def test_alert_address_removal_and_htmx(portal: Portal) -> None:
    account_id = await sign_in(portal)
    response = await add_alert(portal, "papa@example.org", htmx=True)
    assert response.status_code == 200
    title, _, section = response.text.strip().partition("\n")
    assert title == "<title>Mes informations – Ville de Boé</title>"
    assert section.lstrip().startswith('<section id="alerts-section"')
    assert "<html" not in response.text
    assert "Un message de confirmation a été envoyé à papa@example.org" in response.text
    response = await add_alert(portal, "papa@example.org", htmx=True)
    assert response.status_code == 422 and "<html" not in response.text
    assert response.text.strip().startswith("<title>Erreur – Mes informations – ")

    link = await portal.link_in_mail("papa@example.org")
    await portal.post_form(link, {}, form_page="/boe/mes-informations")
    address = await AlertAddress.select().where(AlertAddress.email == "papa@example.org").first()
    remove = f"/boe/mes-informations/alertes/{address['id']}/supprimer"
    assert f'action="{remove}"' in (await portal.client.get("/boe/mes-informations")).text

    # Someone else's address cannot be removed (nor seen).
    portal.client.cookies.clear()
    await sign_in(portal, "boe", "autre@example.org")
    refused = await portal.post_form(remove, {}, form_page="/boe/mes-informations")
    assert refused.status_code == 404 and "papa@example.org" not in refused.text
    assert await AlertAddress.count() == 1
    portal.client.cookies.clear()
    await portal.login("boe", CLAIRE, GOOD_PASSWORD)

    response = await portal.post_form(remove, {}, form_page="/boe/mes-informations", htmx=True)
    assert (
        response.status_code == 200
        and "papa@example.org ne recevra plus les alertes" in response.text
    )
    assert await alert_recipients([account_id]) == {account_id: [CLAIRE]}
    # The removed address's link is dead too.
    assert (await portal.client.get(link)).status_code == 410


async def test_alert_address_links_expire_and_additions_are_rate_limited(portal: Portal) -> None:
    await sign_in(portal)
    assert (await add_alert(portal, "papa@example.org")).status_code == 303
    link = await portal.link_in_mail("papa@example.org")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await AlertAddress.update({AlertAddress.token_expires_at: past}).where(
        AlertAddress.email == "papa@example.org"
    )
    assert (await portal.client.get(link)).status_code == 410
    page = (await portal.client.get("/boe/mes-informations")).text
    assert "Lien de confirmation expiré" in page and "Renvoyer le lien" in page

    # Each addition e-mails a typed address: at most 10 a day per account.
    for _ in range(9):
        address = (
            await AlertAddress.select().where(AlertAddress.email == "papa@example.org").first()
        )
        await portal.post_form(
            f"/boe/mes-informations/alertes/{address['id']}/supprimer",
            {},
            form_page="/boe/mes-informations",
        )
        assert (await add_alert(portal, "papa@example.org")).status_code == 303
    address = await AlertAddress.select().where(AlertAddress.email == "papa@example.org").first()
    await portal.post_form(
        f"/boe/mes-informations/alertes/{address['id']}/supprimer",
        {},
        form_page="/boe/mes-informations",
    )
    response = await add_alert(portal, "papa@example.org")
    assert response.status_code == 429
    assert "Vous avez ajouté de nombreuses adresses aujourd’hui" in response.text
    response = await add_alert(portal, "papa@example.org", htmx=True)  # htmx swaps 422 only
    assert response.status_code == 422 and "nombreuses adresses" in response.text
    assert await AlertAddress.count() == 0


async def test_alert_recipients_deduplicate_and_skip_unconfirmed(portal: Portal) -> None:
    claire = await sign_in(portal)
    other = await sign_in(portal, "boe", "autre@example.org")
    now = dt.datetime.now(dt.UTC)
    await AlertAddress.insert(
        AlertAddress(account=claire, email=CLAIRE, confirmed_at=now, created_at=now),
        AlertAddress(account=claire, email="b@example.org", confirmed_at=now, created_at=now),
        AlertAddress(account=claire, email="pending@example.org", created_at=now),
        AlertAddress(account=other, email="b@example.org", confirmed_at=now, created_at=now),
    )
    assert await alert_recipients([claire, other, claire, 999_999]) == {
        claire: [CLAIRE, "b@example.org"],
        other: ["autre@example.org", "b@example.org"],
    }
    assert await alert_recipients([]) == {}


# --- Paper opt-out (plugin, enabled at Boé only) ----------------------------------------------


async def test_paper_optout_confirm_step_service_email_and_way_back(portal: Portal) -> None:
    account_id = await sign_in(portal)
    page = (await portal.client.get("/boe/mes-informations")).text
    assert 'id="paper-optout-section"' in page
    assert (
        '<a class="button button--secondary" href="/boe/papier">'
        "Ne pas recevoir les factures au format papier</a>" in page
    )

    confirm = (await portal.client.get("/boe/papier")).text
    assert "<h1>Ne plus recevoir les factures papier</h1>" in confirm
    assert "<title>Ne plus recevoir les factures papier – Ville de Boé</title>" in confirm
    assert "Vous avez demandé à ne plus recevoir les factures au format papier." in confirm
    assert (
        "Si vous confirmez, un message électronique sera automatiquement envoyé au service "
        "concerné." in confirm
    )
    assert await PaperPreference.count() == 0  # showing the step changes nothing

    response = await portal.post_form("/boe/papier", {"paper_optout": "1"})
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/boe/mes-informations?info=paper_optout_on#paper-optout-section"
    )
    page = (await portal.client.get(response.headers["location"])).text
    assert "vous ne recevrez plus les factures au format papier" in page
    assert "Vous ne recevez plus les factures au format papier" in page
    assert "Recevoir de nouveau les factures au format papier" in page
    row = await PaperPreference.select().where(PaperPreference.account == account_id).first()
    assert row["paper_optout"] is True

    mail = await portal.mail_to("facturation@boe.test", "arrêt des factures papier")
    assert "(Famille Martin)" in mail.subject
    assert f"compte {CLAIRE}" in mail.text and "NE PLUS RECEVOIR" in mail.text
    assert "- Famille Martin (référence BOE1)" in mail.text

    # Posting the same choice again (a double click) sends nothing more.
    await portal.post_form("/boe/papier", {"paper_optout": "1"})
    assert len(await outbox_to("facturation@boe.test")) == 1

    # The way back to paper, the same way.
    confirm = (await portal.client.get("/boe/papier")).text
    assert "Vous avez demandé à recevoir de nouveau les factures au format papier." in confirm
    assert 'name="paper_optout" value="0"' in confirm
    response = await portal.post_form("/boe/papier", {"paper_optout": "0"})
    assert response.headers["location"].endswith("info=paper_optout_off#paper-optout-section")
    mail = await portal.mail_to("facturation@boe.test", "retour aux factures papier")
    assert "RECEVOIR DE NOUVEAU" in mail.text
    page = (await portal.client.get("/boe/mes-informations")).text
    assert "Vous recevez les factures au format papier" in page
    assert await PaperPreference.count() == 1

    # Anything else than 0 or 1 goes back to the confirmation step.
    response = await portal.post_form("/boe/papier", {"paper_optout": "oui"})
    assert response.status_code == 303 and response.headers["location"] == "/boe/papier"


async def test_paper_optout_is_absent_where_the_plugin_is_off(portal: Portal) -> None:
    await sign_in(portal, "aure", "jean@example.org")
    page = await portal.client.get("/aure/mes-informations")
    assert page.status_code == 200
    assert "paper-optout-section" not in page.text and "format papier" not in page.text
    assert (await portal.client.get("/aure/papier")).status_code == 404
    response = await portal.post_form(
        "/aure/papier", {"paper_optout": "1"}, form_page="/aure/mes-informations"
    )
    assert response.status_code == 404
    assert await PaperPreference.count() == 0


async def test_paper_optout_needs_a_login(portal: Portal) -> None:
    response = await portal.client.get("/boe/papier", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/boe/connexion"


async def test_paper_optout_notifies_the_configured_address(
    clean_db: Engine, settings: Settings, mail_sink: MailSink
) -> None:
    raw = copy.deepcopy(CONFIG)
    raw["communes"][0]["plugins"]["paper_optout"] = {"notify_email": "courrier@boe.test"}
    app = create_app(settings, config=parse_config(raw))
    mail_sink.clear()
    async with serve(app) as client:
        portal = Portal(client=client, sink=mail_sink, settings=settings)
        await sign_in(portal)
        await portal.post_form("/boe/papier", {"paper_optout": "1"})
        mail = await portal.mail_to("courrier@boe.test", "factures papier")
    assert "NE PLUS RECEVOIR" in mail.text
    assert await outbox_to("facturation@boe.test") == []


async def test_hook_account_section_context(app: Litestar, portal: Portal) -> None:
    account_id = await sign_in(portal)
    account = SignedIn(account_id=account_id, email=CLAIRE, session_hash="", persistent=False)
    communes = app.state.portal.communes

    boe = communes["boe"]
    # The plugin's context, and the always-on news alerts' (core/news_alerts).
    pending = boe.hooks.account_section_context(commune=boe, account=account)
    assert [await p for p in pending] == [
        {"paper_optout": Preference(paper_optout=False)},
        {"news_alerts": False, "news_alerts_info": ""},
    ]
    await portal.post_form("/boe/papier", {"paper_optout": "1"})
    pending, news_alerts = boe.hooks.account_section_context(commune=boe, account=account)
    context = await pending
    assert context["paper_optout"].paper_optout is True
    assert context["paper_optout"].changed_at is not None
    assert await news_alerts == {"news_alerts": False, "news_alerts_info": ""}

    aure = communes["aure"]  # paper_optout is off there: only the core's news alerts answer
    (only,) = aure.hooks.account_section_context(commune=aure, account=account)
    assert await only == {"news_alerts": False, "news_alerts_info": ""}


# --- `portail news` and `portail message` ---------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="portail")
    command.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def test_cli_commands_publish_news_and_the_message(
    portal: Portal, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    communes = {"boe": await commune_id("boe"), "aure": await commune_id("aure")}

    async def run(*argv: str) -> tuple[int, str, str]:
        status = await command.execute(parse(*argv), communes)
        out, err = capsys.readouterr()
        return status, out, err

    status, out, _ = await run(
        "news",
        "add",
        "--commune",
        "boe",
        "--title",
        "Rentrée",
        "--body",
        "Texte",
        "--date",
        "2026-09-01",
    )
    assert status == 0 and "publiée pour boe" in out
    body = tmp_path / "news.txt"
    body.write_text("Premier.\n\nSecond.", encoding="utf-8")
    status, _, _ = await run(
        "news", "add", "--commune", "boe", "--title", "Horaires", "--body-file", str(body)
    )
    assert status == 0
    status, out, _ = await run("news", "list", "--commune", "boe")
    assert status == 0 and out.index("Horaires") < out.index("Rentrée") and "01/09/2026" in out
    news = await services.list_news(communes["boe"])
    assert news[0].paragraphs == ["Premier.", "Second."]

    status, _, err = await run("news", "delete", "--commune", "aure", str(news[0].id))
    assert status == 1 and "Aucune actualité" in err
    status, out, _ = await run("news", "delete", "--commune", "boe", str(news[0].id))
    assert status == 0 and len(await services.list_news(communes["boe"])) == 1

    status, _, err = await run(
        "news", "add", "--commune", "nulle-part", "--title", "x", "--body", "y"
    )
    assert (
        status == 2 and "Commune « nulle-part » inconnue (communes configurées : aure, boe)" in err
    )
    status, _, err = await run(
        "news", "add", "--commune", "boe", "--title", "x", "--body", "y", "--date", "01/09/2026"
    )
    assert status == 2 and "invalide" in err
    status, _, err = await run("news", "add", "--commune", "boe", "--title", "x")
    assert status == 2 and "--body" in err
    status, _, err = await run("news", "add", "--commune", "boe", "--title", "x", "--body", " ")
    assert status == 2 and "Le texte est vide." in err

    status, out, _ = await run("message", "set", "--commune", "boe", "--body", "Fermé lundi.")
    assert status == 0 and "version 1" in out
    status, out, _ = await run("message", "set", "--commune", "boe", "--body", "Fermé mardi.")
    assert status == 0 and "version 2" in out
    status, out, _ = await run("message", "show", "--commune", "boe")
    assert "version 2" in out and "Fermé mardi." in out
    status, out, _ = await run("message", "clear", "--commune", "boe")
    assert status == 0 and "retiré" in out
    assert await Announcement.count().where(Announcement.kind == "important") == 0
    status, out, _ = await run("message", "show", "--commune", "boe")
    assert status == 0 and "Aucun message important" in out


def test_cli_entry_point_runs_news_and_message_commands(tmp_path: Path) -> None:
    """The real `portail` command, in its own process and on its own SQLite file."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}",
        "PORTAIL_CONFIG": str(ROOT / "examples" / "portail.demo.toml"),
        "PORTAIL_DEBUG": "1",
    }
    env.pop("PORTAIL_SECRET_KEY", None)

    def portail(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "core.cli", *argv],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    added = portail("news", "add", "--commune", "boe", "--title", "Rentrée", "--body", "Texte")
    assert added.returncode == 0, added.stderr
    assert "Actualité n° 1 publiée pour boe." in added.stdout
    shown = portail("message", "set", "--commune", "boe", "--body-file", "-", stdin="Fermé lundi.")
    assert shown.returncode == 0 and "version 1" in shown.stdout, shown.stderr
    listed = portail("news", "list", "--commune", "boe")
    assert "Rentrée" in listed.stdout
    cleared = portail("message", "clear", "--commune", "boe")
    assert cleared.returncode == 0 and "retiré" in cleared.stdout


def test_cli_main_dispatches_to_the_announcements_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from core import cli

    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(command, "run", lambda settings, args: seen.append(args) or 0)
    monkeypatch.setenv("PORTAIL_DEBUG", "1")
    assert cli.main(["message", "clear", "--commune", "boe"]) == 0
    assert cli.main(["news", "add", "--commune", "boe", "--title", "T", "--body", "B"]) == 0
    assert [(a.command, a.action) for a in seen] == [("message", "clear"), ("news", "add")]


async def test_parent_space_tables_are_migrated(clean_db: Engine) -> None:
    for table in (Announcement, MessageDismissal, ContactMessage, AlertAddress, PaperPreference):
        assert await table.count() == 0
