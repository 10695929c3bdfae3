"""News by e-mail ("informations diverses"): the opt-in in "Mes informations", an agent's
sending (once per item, through the outbox, to the account's address and its confirmed alert
addresses), and the unsubscribe link of each mail (no login). SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import httpx

from core.accounts.tables import Account
from core.alert_addresses.tables import AlertAddress
from core.announcements import services as announcements
from core.backoffice.journal import Actor
from core.backoffice.tables import GESTIONNAIRE, LECTEUR, JournalEntry
from core.mail.tables import OutboundEmail
from core.news_alerts import services
from core.news_alerts.tables import NewsAlertSubscription, NewsMailing
from tests.integration.backoffice.web import app_mailer, commune_of, signed_in_agent
from tests.integration.conftest import Portal, sign_in

CLAIRE = "claire@example.org"
NEWS = "/boe/gestion/actualites"
UNSUBSCRIBE_LINK = re.compile(r"http://\S+/boe/actualites/desabonnement/\d+/[0-9a-f]{32}")


async def account_id(email: str) -> int:
    row = await Account.select(Account.id).where(Account.email == email).first()
    return int(row["id"])


async def choose(portal: Portal, wanted: bool, *, htmx: bool = False) -> httpx.Response:
    return await portal.post_form(
        "/boe/mes-informations/actualites",
        {"news_alerts": "1" if wanted else "0"},
        form_page="/boe/mes-informations",
        htmx=htmx,
    )


async def subscribe(portal: Portal, email: str, ref: str, *alert_addresses: str) -> int:
    """A parent of Boé who asked for the news by e-mail, with confirmed alert addresses."""
    await sign_in(portal, "boe", email, ref=ref)
    assert (await choose(portal, True)).status_code == 303
    account = await account_id(email)
    now = dt.datetime.now(dt.UTC)
    for address in alert_addresses:
        await AlertAddress.insert(
            AlertAddress(account=account, email=address, confirmed_at=now, created_at=now)
        )
    return account


async def outbox() -> list[dict]:
    return await OutboundEmail.select().order_by(OutboundEmail.id)


async def test_the_choice_in_mes_informations(portal: Portal) -> None:
    await sign_in(portal, "boe", CLAIRE)
    page = (await portal.client.get("/boe/mes-informations")).text
    section = re.search(r'<section id="news-alerts-section".*?</section>', page, re.S)
    assert section, page
    assert ">Recevoir les actualités par e-mail</h2>" in section.group(0)
    assert 'name="news_alerts" value="1"' in section.group(0)
    assert page.index('id="alerts-section"') < page.index('id="news-alerts-section"')

    response = await choose(portal, True)
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/boe/mes-informations?info=news_alerts_on#news-alerts-section"
    )
    assert await services.is_subscribed(await account_id(CLAIRE))
    page = (await portal.client.get(response.headers["location"])).text
    assert "C’est noté : vous recevrez les actualités par e-mail." in page
    assert "<strong>Vous recevez les actualités par e-mail</strong>" in page
    assert 'name="news_alerts" value="0"' in page

    # The same choice twice leaves one row; htmx answers with the section alone.
    again = await choose(portal, True, htmx=True)
    assert again.status_code == 200 and again.text.lstrip().startswith("<section")
    assert await NewsAlertSubscription.count() == 1
    off = await choose(portal, False, htmx=True)
    assert "vous ne recevrez plus les actualités par e-mail" in off.text
    assert 'name="news_alerts" value="1"' in off.text
    assert await NewsAlertSubscription.count() == 0

    # Signed out, nothing can be chosen.
    portal.client.cookies.clear()
    refused = await choose(portal, True)
    assert refused.status_code == 303 and refused.headers["location"] == "/boe/connexion"


async def test_a_published_item_is_sent_once_to_the_subscribers(portal: Portal) -> None:
    claire = await subscribe(portal, CLAIRE, "P1", "papa@example.org")
    now = dt.datetime.now(dt.UTC)
    await AlertAddress.insert(  # never confirmed: never written to
        AlertAddress(account=claire, email="pending@example.org", created_at=now)
    )
    portal.client.cookies.clear()
    await subscribe(portal, "jean@example.org", "P2")
    portal.client.cookies.clear()
    await sign_in(portal, "boe", "sans@example.org", ref="P3")  # did not ask
    portal.client.cookies.clear()
    await sign_in(portal, "aure", "aure@example.org", ref="A1")  # another commune
    await portal.post_form(
        "/aure/mes-informations/actualites",
        {"news_alerts": "1"},
        form_page="/aure/mes-informations",
    )
    assert await NewsAlertSubscription.count() == 3
    portal.client.cookies.clear()
    await OutboundEmail.delete(force=True)

    boe = commune_of(portal, "boe")
    news_id = await announcements.add_news(
        boe.id, "Fermeture de Noël", "Le service ferme du 24 au 26 décembre.\n\nBonnes fêtes."
    )
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    await OutboundEmail.delete(force=True)  # the agent's own link
    item = (await portal.client.get(f"{NEWS}/{news_id}")).text
    assert "2 familles ont demandé à recevoir les actualités par e-mail" in item
    assert f'action="{NEWS}/{news_id}/envoyer"' in item

    send = f"{NEWS}/{news_id}/envoyer"
    response = await portal.post_form(send, {}, form_page=f"{NEWS}/{news_id}")
    assert response.status_code == 303
    assert response.headers["location"] == f"{NEWS}/{news_id}?info=news_emailed"
    sent = await outbox()
    assert sorted(row["recipient"] for row in sent) == [
        CLAIRE,
        "jean@example.org",
        "papa@example.org",
    ]
    first = sent[0]
    assert first["subject"] == "Ville de Boé : Fermeture de Noël"
    assert "Le service ferme du 24 au 26 décembre." in first["body_text"]
    links = {row["recipient"]: UNSUBSCRIBE_LINK.findall(row["body_text"]) for row in sent}
    assert links[CLAIRE] == links["papa@example.org"] != links["jean@example.org"]
    assert f"/desabonnement/{claire}/" in links[CLAIRE][0]
    mailing = await NewsMailing.select().first()
    assert mailing["announcement"] == news_id and mailing["recipients"] == 3
    journal = await JournalEntry.select().where(JournalEntry.action == "news.email").first()
    assert journal is not None and "« Fermeture de Noël »" in journal["target"]

    # A second click sends nothing, and the page says when it went.
    again = await portal.post_form(send, {}, form_page=f"{NEWS}/{news_id}")
    assert again.headers["location"] == f"{NEWS}/{news_id}?info=news_already_emailed"
    assert len(await outbox()) == 3
    item = (await portal.client.get(f"{NEWS}/{news_id}")).text
    assert "Envoyée par e-mail le" in item and "à 3 adresses" in item
    assert f'action="{NEWS}/{news_id}/envoyer"' not in item

    # The mails go out through the sender, as any other.
    assert await portal.deliver() == 3
    received = await portal.mail_to("jean@example.org", "Fermeture de Noël")
    assert "Bonnes fêtes." in received.text


async def test_two_sendings_at_once_send_once(portal: Portal) -> None:
    await subscribe(portal, CLAIRE, "P1")
    boe = commune_of(portal, "boe")
    news_id = await announcements.add_news(boe.id, "Tarifs", "Les tarifs changent.")
    mailer, actor = app_mailer(portal), Actor.command_line()
    secret = portal.settings.secret_key
    await OutboundEmail.delete(force=True)  # the activation's
    results = await asyncio.gather(
        *(services.send_news(boe, news_id, mailer, secret, actor) for _ in range(3))
    )
    assert sorted(result.sent for result in results) == [False, False, True]
    assert await OutboundEmail.count().where(OutboundEmail.recipient == CLAIRE) == 1
    assert await NewsMailing.count() == 1


async def test_only_a_published_item_of_the_commune_is_sent(portal: Portal) -> None:
    await subscribe(portal, CLAIRE, "P1")
    boe, aure = commune_of(portal, "boe"), commune_of(portal, "aure")
    draft = await announcements.add_news(boe.id, "Brouillon", "Pas encore.", publish=False)
    theirs = await announcements.add_news(aure.id, "Aure", "Ailleurs.")
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    await OutboundEmail.delete(force=True)
    page = (await portal.client.get(f"{NEWS}/{draft}")).text
    assert "Publiez l’actualité pour pouvoir l’envoyer par e-mail" in page
    refused = await portal.post_form(f"{NEWS}/{draft}/envoyer", {}, form_page=f"{NEWS}/{draft}")
    assert refused.headers["location"] == f"{NEWS}/{draft}?info=news_not_emailed"
    other = await portal.post_form(f"{NEWS}/{theirs}/envoyer", {}, form_page=f"{NEWS}/{draft}")
    assert other.status_code == 404
    assert await OutboundEmail.count() == 0 and await NewsMailing.count() == 0


async def test_a_reader_cannot_send(portal: Portal) -> None:
    boe = commune_of(portal, "boe")
    news_id = await announcements.add_news(boe.id, "Tarifs", "Les tarifs changent.")
    await signed_in_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    response = await portal.post_form(f"{NEWS}/{news_id}/envoyer", {}, form_page="/boe/gestion/")
    assert response.status_code == 403
    assert await NewsMailing.count() == 0


async def test_the_unsubscribe_link_works_without_logging_in(portal: Portal) -> None:
    claire = await subscribe(portal, CLAIRE, "P1")
    boe = commune_of(portal, "boe")
    news_id = await announcements.add_news(boe.id, "Tarifs", "Les tarifs changent.")
    await services.send_news(
        boe, news_id, app_mailer(portal), portal.settings.secret_key, Actor.command_line()
    )
    mail = await portal.mail_to(CLAIRE, "Tarifs")
    match = UNSUBSCRIBE_LINK.search(mail.text)
    assert match, mail.text
    link = match.group(0).removeprefix(portal.settings.base_url)
    portal.client.cookies.clear()  # from another browser: no session

    # Opening the link changes nothing (mail scanners follow links): one button does.
    page = await portal.client.get(link)
    assert page.status_code == 200 and ">Me désabonner</button>" in page.text
    assert f'action="{link}"' in page.text
    assert await services.is_subscribed(claire)
    done = await portal.post_form(link, {})
    assert done.status_code == 200 and "C’est fait" in done.text
    assert not await services.is_subscribed(claire)
    # Again: still done, nothing to press.
    again = await portal.client.get(link)
    assert "C’est fait" in again.text and "Me désabonner</button>" not in again.text

    # A key for another account, or from another commune, is refused and changes nothing.
    await services.set_subscription(claire, True)
    forged = re.sub(r"/desabonnement/\d+/", f"/desabonnement/{claire + 1}/", link)
    assert (await portal.client.get(forged)).status_code == 404
    assert (await portal.post_form(forged, {}, form_page=link)).status_code == 404
    other_commune = link.replace("/boe/", "/aure/")
    assert (await portal.post_form(other_commune, {}, form_page=link)).status_code == 404
    assert (await portal.client.get(link[:-1] + "0")).status_code in (404,)
    assert await services.is_subscribed(claire)


async def one_click(portal: Portal, path: str) -> httpx.Response:
    """What a mail client does for RFC 8058: a bare POST, no cookie, no CSRF token."""
    portal.client.cookies.clear()
    return await portal.client.post(
        path,
        content=services.ONE_CLICK,
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


async def test_news_mails_offer_one_click_unsubscribe(portal: Portal) -> None:
    """RFC 2369 / RFC 8058: each news mail names its signed unsubscribe link in
    `List-Unsubscribe`, and `List-Unsubscribe-Post` says a bare POST to it unsubscribes."""
    claire = await subscribe(portal, CLAIRE, "P1", "papa@example.org")
    boe = commune_of(portal, "boe")
    await portal.deliver()  # the activation's mail, before the news
    news_id = await announcements.add_news(boe.id, "Tarifs", "Les tarifs changent.")
    await services.send_news(
        boe, news_id, app_mailer(portal), portal.settings.secret_key, Actor.command_line()
    )
    for address in (CLAIRE, "papa@example.org"):
        mail = await portal.mail_to(address, "Tarifs")
        link = UNSUBSCRIBE_LINK.search(mail.text)
        assert link, mail.text
        assert mail.header("List-Unsubscribe") == [f"<{link.group(0)}>"]
        assert mail.header("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    # The other mails (here the activation's) carry no such header.
    others = [m for m in portal.sink.messages if "Tarifs" not in m.subject]
    assert others
    assert all(not m.header("List-Unsubscribe") for m in others)
    assert all(not m.header("List-Unsubscribe-Post") for m in others)
    # Sent: the stored rows keep neither the bodies nor the headers' link.
    assert {row["headers"] for row in await outbox()} == {""}

    path = link.group(0).removeprefix(portal.settings.base_url)
    # A forged or another commune's key: the French error, nothing changed.
    forged = re.sub(r"/desabonnement/\d+/", f"/desabonnement/{claire + 1}/", path)
    for bad in (
        forged,
        path[:-1] + ("0" if path[-1] != "0" else "1"),
        path.replace("/boe/", "/aure/"),
    ):
        refused = await one_click(portal, bad)
        assert refused.status_code == 404
        assert "Ce lien de désabonnement n’est pas valide." in refused.text
    assert await services.is_subscribed(claire)

    done = await one_click(portal, path)
    assert done.status_code == 200 and "C’est fait" in done.text
    assert not await services.is_subscribed(claire)
    again = await one_click(portal, path)  # a client may post twice: still done
    assert again.status_code == 200 and not await services.is_subscribed(claire)
