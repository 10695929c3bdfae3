"""The seeds' details of the parents' side: the account holder's name in the header, the
welcome of the home page, the news on the login page, a new link for an expired alert address.
Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

import copy
import datetime as dt
import re

import httpx

from core.accounts.tables import Account, AccountPayer, WebSession
from core.alert_addresses.tables import AlertAddress
from core.announcements import services as announcements
from core.app import create_app
from core.communes.tables import Commune
from core.config import parse_config
from core.db import Engine
from core.mail.sink import MailSink
from core.settings import Settings
from tests.integration.conftest import CONFIG, GOOD_PASSWORD, Portal, add_payer, serve, sign_in

CLAIRE = "claire@example.org"
PAPA = "papa@example.org"
HOLDER = re.compile(
    r'<p class="account-holder"><span class="visually-hidden">Compte de </span>([^<]*)</p>'
)


async def commune_id(slug: str) -> int:
    row = await Commune.select(Commune.id).where(Commune.slug == slug).first()
    return int(row["id"])


def header(html: str) -> str:
    match = re.search(r'<header class="site-header">.*?</header>', html, re.S)
    assert match, html
    return match.group(0)


async def logout(portal: Portal, slug: str = "boe") -> None:
    token = await portal.csrf(f"/{slug}/mes-informations")
    await portal.client.post(f"/{slug}/deconnexion", data={"_csrf_token": token})


# --- The header ------------------------------------------------------------------------------


async def test_the_header_names_the_account_holder_next_to_the_commune(portal: Portal) -> None:
    payer = await sign_in(portal, "boe", CLAIRE, ref="P1")  # the payer "Famille P1"
    for path in ("/boe/", "/boe/factures", "/boe/mes-informations", "/boe/contact"):
        top = header((await portal.client.get(path)).text)
        assert HOLDER.findall(top) == ["Famille P1"], path
        assert top.index("Ville de Boé") < top.index("Famille P1")

    # The name is read with the session (copied at login): a later link changes nothing until
    # the next login, and the page needs no query of the payers.
    session = await WebSession.select(WebSession.display_name).first()
    assert session["display_name"] == "Famille P1"
    account = await Account.select(Account.id).where(Account.email == CLAIRE).first()
    other = await add_payer("boe", "P0", "DURAND Léa", "lea@example.org")
    await AccountPayer.delete().where(AccountPayer.account == account["id"])
    await AccountPayer.insert(
        AccountPayer(account=account["id"], payer=other),
        AccountPayer(account=account["id"], payer=payer),
    )
    assert HOLDER.findall(header((await portal.client.get("/boe/")).text)) == ["Famille P1"]
    await logout(portal)
    assert not HOLDER.findall((await portal.client.get("/boe/")).text)  # nobody signed in
    assert (await portal.login("boe", CLAIRE, GOOD_PASSWORD)).status_code == 303
    # At login: the account's first linked payer.
    assert HOLDER.findall(header((await portal.client.get("/boe/")).text)) == ["DURAND Léa"]


async def test_the_header_name_is_escaped(portal: Portal) -> None:
    await add_payer("boe", "X1", "<b>Martin</b> & fils", CLAIRE)
    await portal.activate("boe", CLAIRE)
    top = header((await portal.client.get("/boe/")).text)
    assert HOLDER.findall(top) == ["&lt;b&gt;Martin&lt;/b&gt; &amp; fils"]


# --- The home page ---------------------------------------------------------------------------


async def test_the_home_page_keeps_the_seeds_welcome_then_the_communes_text(
    clean_db: Engine, settings: Settings, mail_sink: MailSink
) -> None:
    raw = copy.deepcopy(CONFIG)
    raw["communes"][0]["welcome"] = "Restauration scolaire et garderie : toutes vos factures."
    app = create_app(settings, config=parse_config(raw))
    mail_sink.clear()
    async with serve(app) as client:
        portal = Portal(client=client, sink=mail_sink, settings=settings)
        await sign_in(portal, "boe", CLAIRE)
        home = (await client.get("/boe/")).text
        lead = "pour la consultation et le paiement des factures de Ville de Boé."
        items = re.search(r'<ul class="welcome-list">(.*?)</ul>', home, re.S)
        assert items, home
        listed = re.findall(r"<li>(.*?)</li>", items.group(1))
        assert listed == [
            "Une interface simple : vos factures sont accessibles en un clic, et chacune se "
            "télécharge en PDF.",
            "Avec PayFiP, vous pouvez payer vos factures en ligne en toute sécurité.",
            "Un message vous prévient dès que de nouvelles factures sont en ligne.",
            "Un espace de communication privilégié avec le service facturation de Ville de Boé.",
        ]
        welcome = "Restauration scolaire et garderie : toutes vos factures."
        assert (
            home.index("Bienvenue sur le portail des factures")
            < home.index(lead)
            < home.index('<ul class="welcome-list">')
            < home.index(welcome)
            < home.index('<ul class="tiles">')
        )

        # Aure pays through TIPI, and has no text of its own.
        await sign_in(portal, "aure", "jean@example.org", ref="A1")
        aure = (await client.get("/aure/")).text
        assert "Avec TIPI, vous pouvez payer vos factures en ligne en toute sécurité." in aure
        assert welcome not in aure


# --- The login page --------------------------------------------------------------------------


async def test_the_login_page_shows_the_news_newest_first_and_the_important_message(
    portal: Portal,
) -> None:
    boe, aure = await commune_id("boe"), await commune_id("aure")
    old = dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC)
    await announcements.add_news(boe, "Rentrée", "Les tarifs changent.", published_at=old)
    await announcements.add_news(boe, "Fermeture", "Le service ferme le 24 décembre.")
    await announcements.add_news(boe, "Brouillon", "Pas encore.", publish=False)
    await announcements.add_news(aure, "Nouvelles d’Aure", "Rien à voir.")
    await announcements.set_message(boe, "Paiement suspendu jusqu’à lundi.", title="Maintenance")

    page = (await portal.client.get("/boe/")).text
    assert "<h1>Le portail des factures</h1>" in page  # the login form, first
    titles = re.findall(r'<h3 id="news-\d+-title">([^<]+)</h3>', page)
    assert titles == ["Fermeture", "Rentrée"]  # newest first, published only, Boé's only
    pattern = r'<section class="important-message important-message--public".*?</section>'
    message = re.search(pattern, page, re.S)
    assert message, page
    assert "Maintenance" in message.group(0)
    assert "Paiement suspendu jusqu’à lundi." in message.group(0)
    assert "message/fermer" not in page  # a visitor has nothing to close
    form_at = page.index('action="/boe/connexion"')
    assert form_at < page.index("Maintenance") < page.index("Fermeture")
    assert (await portal.client.get("/boe/connexion")).text.count('id="news-title"') == 1

    # A failed login shows the form again, the news still beside it.
    failed = await portal.login("boe", CLAIRE, "pas le bon mot de passe")
    assert failed.status_code == 422
    assert "Fermeture" in failed.text and "Maintenance" in failed.text

    # Withdrawn, the message is gone from the login page too; no news, no section.
    await announcements.set_message_published(boe, False)
    assert "important-message--public" not in (await portal.client.get("/boe/")).text
    assert "Rien à voir." in (await portal.client.get("/aure/")).text
    await announcements.add_news(aure, "Autre", "Encore.", publish=False)
    for item in await announcements.list_news(boe):
        await announcements.delete_news(boe, item.id)
    bare = (await portal.client.get("/boe/")).text
    assert 'id="news-title"' not in bare and "login-news" not in bare


# --- A new link for an expired alert address -------------------------------------------------


async def add_alert(portal: Portal, email: str) -> httpx.Response:
    return await portal.post_form(
        "/boe/mes-informations/alertes", {"alert_email": email}, form_page="/boe/mes-informations"
    )


async def resend(portal: Portal, address_id: int, *, htmx: bool = False) -> httpx.Response:
    return await portal.post_form(
        f"/boe/mes-informations/alertes/{address_id}/renvoyer",
        {},
        form_page="/boe/mes-informations",
        htmx=htmx,
    )


async def test_an_expired_alert_link_can_be_sent_again(portal: Portal) -> None:
    await sign_in(portal, "boe", CLAIRE)
    assert (await add_alert(portal, PAPA)).status_code == 303
    first_link = await portal.link_in_mail(PAPA)
    address = await AlertAddress.select().where(AlertAddress.email == PAPA).first()
    page = (await portal.client.get("/boe/mes-informations")).text
    assert "Renvoyer le lien" not in page  # the link still works: nothing to resend

    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await AlertAddress.update({AlertAddress.token_expires_at: past}).where(
        AlertAddress.id == address["id"]
    )
    page = (await portal.client.get("/boe/mes-informations")).text
    assert "Lien de confirmation expiré" in page
    assert f'action="/boe/mes-informations/alertes/{address["id"]}/renvoyer"' in page
    assert "Renvoyer le lien de confirmation à papa@example.org" in page

    portal.sink.clear()
    response = await resend(portal, address["id"])
    assert response.status_code == 303
    location = "/boe/mes-informations?info=alert_link_resent#alerts-section"
    assert response.headers["location"] == location
    new_link = await portal.link_in_mail(PAPA, "confirmez")
    assert new_link != first_link
    assert (await portal.client.get(first_link)).status_code == 410  # the old link is dead
    assert (await portal.client.get(new_link)).status_code == 200
    assert (await portal.post_form(new_link, {})).status_code == 303
    confirmed = await AlertAddress.select().where(AlertAddress.id == address["id"]).first()
    assert confirmed["confirmed_at"] is not None

    # A confirmed address gets no new link; htmx answers with the section.
    portal.sink.clear()
    answer = await resend(portal, address["id"], htmx=True)
    assert answer.status_code == 200
    # The section alone (after the <title> htmx applies), not the whole page.
    assert '<section id="alerts-section"' in answer.text and "<html" not in answer.text
    assert "Un nouveau lien" not in answer.text
    assert await portal.deliver() == 0


async def test_another_accounts_address_gets_no_link(portal: Portal) -> None:
    await sign_in(portal, "boe", CLAIRE)
    await add_alert(portal, PAPA)
    address = await AlertAddress.select().where(AlertAddress.email == PAPA).first()
    await logout(portal)
    await sign_in(portal, "boe", "autre@example.org", ref="P2")
    portal.sink.clear()
    response = await resend(portal, address["id"], htmx=True)
    # Not found, as every object of another account (tests/integration/test_object_boundaries.py).
    assert response.status_code == 404 and PAPA not in response.text
    assert await portal.deliver() == 0
    row = await AlertAddress.select().where(AlertAddress.id == address["id"]).first()
    assert row["token_hash"] == address["token_hash"]


async def test_new_links_are_counted_with_the_additions(portal: Portal) -> None:
    await sign_in(portal, "boe", CLAIRE)
    await add_alert(portal, PAPA)  # 1 of the 10 e-mails a day
    address = await AlertAddress.select().where(AlertAddress.email == PAPA).first()
    for _ in range(9):
        sent = await resend(portal, address["id"], htmx=True)
        assert "Un nouveau lien de confirmation a été envoyé à papa@example.org" in sent.text
    refused = await resend(portal, address["id"], htmx=True)
    assert refused.status_code == 422
    assert "Vous avez demandé de nombreux liens aujourd’hui." in refused.text
    assert (await resend(portal, address["id"])).status_code == 429
