"""Activation, login, forgotten password, password and e-mail changes, over HTTP."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from core.accounts.tables import Account, AccountPayer, AccountToken, WebSession
from core.mail.tables import OutboundEmail
from tests.integration.conftest import GOOD_PASSWORD, Portal, add_payer

NEUTRAL = "Si cette adresse est connue du service facturation"


# --- Activation ----------------------------------------------------------------------------


async def test_activation_of_a_known_address_sends_the_link_and_logs_in(portal: Portal) -> None:
    payer_id = await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    response = await portal.post_form("/boe/activation", {"email": "  Claire@Example.org "})
    assert response.status_code == 303
    assert response.headers["location"] == "/boe/activation/envoyee"
    page = await portal.client.get("/boe/activation/envoyee")
    assert NEUTRAL in page.text and "05 53 00 00 00" in page.text and "indésirables" in page.text

    mail = await portal.mail_to("claire@example.org")
    assert mail.subject == "Accès au portail des factures"
    assert "Merci de ne pas répondre à ce message" in mail.text
    link = await portal.link_in_mail("claire@example.org")
    assert link.startswith("/boe/activation/")

    form = await portal.client.get(link)
    assert form.status_code == 200 and "Choisissez votre mot de passe" in form.text
    response = await portal.post_form(
        link, {"password": GOOD_PASSWORD, "confirmation": GOOD_PASSWORD}
    )
    assert response.status_code == 303 and response.headers["location"] == "/boe/?info=activated"
    home = await portal.client.get("/boe/?info=activated")
    assert "Bienvenue sur le portail des factures" in home.text
    assert "Votre compte est activé" in home.text
    for entry in ("Mes factures", "Mes informations", "Contact", "Déconnexion"):
        assert entry in home.text

    account = await Account.select().where(Account.email == "claire@example.org").first()
    assert account["state"] == "active" and account["password_hash"].startswith("$argon2id$")
    links = await AccountPayer.select().where(AccountPayer.account == account["id"])
    assert [row["payer"] for row in links] == [payer_id]


async def test_activation_answers_the_same_page_for_unknown_and_active_addresses(
    portal: Portal,
) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    portal.sink.clear()

    unknown = await portal.post_form("/boe/activation", {"email": "stranger@example.org"})
    active = await portal.post_form("/boe/activation", {"email": "claire@example.org"})
    assert unknown.status_code == active.status_code == 303
    assert unknown.headers["location"] == active.headers["location"] == "/boe/activation/envoyee"

    assert await Account.count().where(Account.email == "stranger@example.org") == 0
    await portal.deliver()
    mail = await portal.mail_to("claire@example.org")
    assert "un compte est déjà actif" in mail.text
    assert "/boe/mot-de-passe-oublie" in mail.text
    assert all("stranger@example.org" not in m.recipients for m in portal.sink.messages)


async def test_activation_rejects_an_invalid_address_with_a_french_message(portal: Portal) -> None:
    response = await portal.post_form("/boe/activation", {"email": "pas-une-adresse"})
    assert response.status_code == 422
    assert "Veuillez saisir une adresse de messagerie valide" in response.text
    assert 'value="pas-une-adresse"' in response.text  # nothing typed is lost


@pytest.mark.parametrize(
    ("password", "confirmation", "message"),
    [
        ("court", "court", "au moins 12 caractères"),
        (GOOD_PASSWORD, GOOD_PASSWORD + "x", "ne sont pas identiques"),
        ("1qaz2wsx3edc", "1qaz2wsx3edc", "plus courants"),
        ("", "", "Veuillez choisir un mot de passe"),
    ],
)
async def test_activation_password_rules_each_have_a_message(
    portal: Portal, password: str, confirmation: str, message: str
) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.post_form("/boe/activation", {"email": "claire@example.org"})
    link = await portal.link_in_mail("claire@example.org")
    response = await portal.post_form(link, {"password": password, "confirmation": confirmation})
    assert response.status_code == 422
    assert message in response.text
    account = await Account.select().where(Account.email == "claire@example.org").first()
    assert account["state"] == "pending"  # nothing half-done


async def test_password_minimum_is_per_commune_and_64_characters_are_accepted(
    portal: Portal,
) -> None:
    await add_payer("aure", "A1", "Famille Dupont", "jean@example.org")
    await portal.post_form("/aure/activation", {"email": "jean@example.org"})
    link = await portal.link_in_mail("jean@example.org")
    ten = "tulipe-bleue"[:10]
    response = await portal.post_form(link, {"password": ten, "confirmation": ten})
    assert response.status_code == 303  # aure asks for 10, not 12

    await add_payer("boe", "B2", "Famille Long", "long@example.org")
    await portal.post_form("/boe/activation", {"email": "long@example.org"})
    link = await portal.link_in_mail("long@example.org")
    long_password = "ma fille adore la cantine du mercredi et les crêpes au chocolat!"[:64]
    assert len(long_password) == 64
    response = await portal.post_form(
        link, {"password": long_password, "confirmation": long_password}
    )
    assert response.status_code == 303


async def test_activation_link_is_single_use_and_expires(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.post_form("/boe/activation", {"email": "claire@example.org"})
    link = await portal.link_in_mail("claire@example.org")
    await portal.post_form(link, {"password": GOOD_PASSWORD, "confirmation": GOOD_PASSWORD})

    reused = await portal.client.get(link)
    assert reused.status_code == 410 and "n’est plus valide" in reused.text
    reposted = await portal.post_form(
        link,
        {"password": GOOD_PASSWORD, "confirmation": GOOD_PASSWORD},
        form_page="/boe/activation",
    )
    assert reposted.status_code == 410

    await add_payer("boe", "B2", "Famille Benali", "benali@example.org")
    await portal.post_form("/boe/activation", {"email": "benali@example.org"})
    link = await portal.link_in_mail("benali@example.org")
    await AccountToken.update(
        {AccountToken.expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)}, force=True
    )
    expired = await portal.client.get(link)
    assert expired.status_code == 410


async def test_activation_mail_is_in_the_outbox_even_when_smtp_is_down(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.post_form("/boe/activation", {"email": "claire@example.org"})
    # Not delivered yet: the request only wrote it, with its token, in one transaction.
    rows = await OutboundEmail.select().where(OutboundEmail.recipient == "claire@example.org")
    assert len(rows) == 1 and rows[0]["status"] == "pending"
    assert await AccountToken.count() == 1


# --- Login, remember me, logout ------------------------------------------------------------


async def test_login_logout_and_neutral_failure(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    await portal.post_form("/boe/deconnexion", {}, form_page="/boe/")

    wrong = await portal.login("boe", "claire@example.org", "mauvais mot de passe")
    unknown = await portal.login("boe", "personne@example.org", GOOD_PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 422
        assert "Adresse de messagerie ou mot de passe incorrect." in response.text
    assert 'value="claire@example.org"' in wrong.text

    ok = await portal.login("boe", "claire@example.org", GOOD_PASSWORD)
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "portail_session=" in cookie and "HttpOnly" in cookie and "Path=/boe/" in cookie
    assert "SameSite=lax" in cookie and "Max-Age" not in cookie  # a browser-session cookie
    assert (await portal.client.get("/boe/mes-informations")).status_code == 200

    out = await portal.post_form("/boe/deconnexion", {}, form_page="/boe/")
    assert out.status_code == 303
    assert await WebSession.count() == 0  # ended server-side, not just forgotten by the browser
    page = await portal.client.get("/boe/mes-informations", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/boe/connexion"


async def test_remember_me_sets_a_30_day_cookie(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    response = await portal.login("boe", "claire@example.org", GOOD_PASSWORD, remember=True)
    assert f"Max-Age={30 * 24 * 3600}" in response.headers["set-cookie"]
    session = await WebSession.select().order_by(WebSession.id, ascending=False).first()
    assert session["persistent"] is True
    assert session["expires_at"] - session["created_at"] == dt.timedelta(days=30)


async def test_login_gives_a_new_session_id_each_time(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    before = portal.client.cookies.get("portail_session")
    await portal.login("boe", "claire@example.org", GOOD_PASSWORD)
    after = portal.client.cookies.get("portail_session")
    assert before and after and before != after
    # The session the parent had before logging in again is gone.
    assert await WebSession.count() == 1


async def test_login_rehashes_a_password_hashed_with_old_parameters(portal: Portal) -> None:
    from argon2 import PasswordHasher

    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(GOOD_PASSWORD)
    await Account.update({Account.password_hash: weak}, force=True)
    assert (await portal.login("boe", "claire@example.org", GOOD_PASSWORD)).status_code == 303
    account = await Account.select().first()
    assert account["password_hash"] != weak and "m=19456,t=2,p=1" in account["password_hash"]


# --- Forgotten password --------------------------------------------------------------------


async def test_forgotten_password_journey(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    other_browser = await WebSession.count()
    portal.sink.clear()

    response = await portal.post_form("/boe/mot-de-passe-oublie", {"email": "claire@example.org"})
    assert response.headers["location"] == "/boe/mot-de-passe-oublie/envoye"
    page = await portal.client.get("/boe/mot-de-passe-oublie/envoye")
    assert NEUTRAL in page.text
    link = await portal.link_in_mail("claire@example.org", "nouveau mot de passe")
    assert link.startswith("/boe/mot-de-passe/")

    new_password = "un tout nouveau mot de passe"
    done = await portal.post_form(link, {"password": new_password, "confirmation": new_password})
    assert done.status_code == 303
    assert other_browser == 1 and await WebSession.count() == 1  # the old session was ended
    assert (await portal.client.get(link)).status_code == 410  # single use

    await portal.post_form("/boe/deconnexion", {}, form_page="/boe/")
    assert (await portal.login("boe", "claire@example.org", GOOD_PASSWORD)).status_code == 422
    assert (await portal.login("boe", "claire@example.org", new_password)).status_code == 303


async def test_forgotten_password_for_unknown_address_sends_nothing(portal: Portal) -> None:
    response = await portal.post_form("/boe/mot-de-passe-oublie", {"email": "nobody@example.org"})
    assert response.headers["location"] == "/boe/mot-de-passe-oublie/envoye"
    assert await OutboundEmail.count() == 0


async def test_forgotten_password_of_a_never_activated_payer_sends_the_activation(
    portal: Portal,
) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.post_form("/boe/mot-de-passe-oublie", {"email": "claire@example.org"})
    link = await portal.link_in_mail("claire@example.org", "Accès")
    assert link.startswith("/boe/activation/")


# --- Mes informations ----------------------------------------------------------------------


async def test_change_password_ends_other_sessions_and_keeps_this_one(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    # A second browser (say, the parent's phone) logged in too.
    phone_cookie = portal.client.cookies.get("portail_session")
    await portal.login("boe", "claire@example.org", GOOD_PASSWORD)
    assert await WebSession.count() == 1
    await portal.login("boe", "claire@example.org", GOOD_PASSWORD, remember=True)
    desktop_cookie = portal.client.cookies.get("portail_session")
    assert phone_cookie != desktop_cookie

    new_password = "encore un autre mot de passe"
    wrong = await portal.post_form(
        "/boe/mes-informations/mot-de-passe",
        {"old_password": "faux", "new_password": new_password, "confirmation": new_password},
        form_page="/boe/mes-informations",
    )
    assert wrong.status_code == 422 and "Le mot de passe actuel est incorrect." in wrong.text

    response = await portal.post_form(
        "/boe/mes-informations/mot-de-passe",
        {"old_password": GOOD_PASSWORD, "new_password": new_password, "confirmation": new_password},
        form_page="/boe/mes-informations",
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/boe/mes-informations?info=password_changed"
    assert await WebSession.count() == 1  # only this browser's fresh session remains
    assert portal.client.cookies.get("portail_session") != desktop_cookie
    session = await WebSession.select().first()
    assert session["persistent"] is True  # "Se souvenir de moi" survives the change
    assert f"Max-Age={30 * 24 * 3600}" in response.headers["set-cookie"]
    page = await portal.client.get("/boe/mes-informations?info=password_changed")
    assert page.status_code == 200 and "Votre mot de passe a été modifié" in page.text


async def test_change_password_with_htmx_answers_with_the_section_only(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    new_password = "encore un autre mot de passe"
    response = await portal.post_form(
        "/boe/mes-informations/mot-de-passe",
        {"old_password": GOOD_PASSWORD, "new_password": new_password, "confirmation": "différent"},
        form_page="/boe/mes-informations",
        htmx=True,
    )
    assert response.status_code == 422
    # htmx puts the top-level <title> on the page: the title says the form has errors.
    title, _, section = response.text.strip().partition("\n")
    assert title == "<title>Erreur – Mes informations – Ville de Boé</title>"
    assert section.lstrip().startswith('<section id="password-section"')
    # htmx focuses the swapped section's heading: the keyboard's place is not lost to <body>.
    assert '<h2 id="password-title" tabindex="-1" autofocus>' in section
    assert "<html" not in response.text and "ne sont pas identiques" in response.text
    assert response.headers["vary"] == "HX-Request"

    response = await portal.post_form(
        "/boe/mes-informations/mot-de-passe",
        {"old_password": GOOD_PASSWORD, "new_password": new_password, "confirmation": new_password},
        form_page="/boe/mes-informations",
        htmx=True,
    )
    assert response.status_code == 200 and "Votre mot de passe a été modifié" in response.text
    assert "<html" not in response.text
    assert response.text.strip().startswith("<title>Mes informations – Ville de Boé</title>")
    assert (await portal.client.get("/boe/mes-informations")).status_code == 200  # still logged in


async def test_change_email_is_validated_by_a_link_and_the_old_address_is_told(
    portal: Portal,
) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    response = await portal.post_form(
        "/boe/mes-informations/adresse",
        {"new_email": "claire.nouvelle@example.org", "password": GOOD_PASSWORD},
        form_page="/boe/mes-informations",
    )
    assert response.status_code == 303
    account = await Account.select().first()
    assert account["email"] == "claire@example.org"  # unchanged until the link is followed

    link = await portal.link_in_mail("claire.nouvelle@example.org", "validez")
    page = await portal.client.get(link)
    assert "claire.nouvelle@example.org" in page.text and "Confirmer" in page.text
    assert (await Account.select().first())[
        "email"
    ] == "claire@example.org"  # a GET changes nothing

    done = await portal.post_form(link, {})
    assert done.status_code == 303
    assert (await Account.select().first())["email"] == "claire.nouvelle@example.org"
    notice = await portal.mail_to("claire@example.org", "a changé")
    assert "claire.nouvelle@example.org" in notice.text

    await portal.post_form("/boe/deconnexion", {}, form_page="/boe/")
    assert (await portal.login("boe", "claire@example.org", GOOD_PASSWORD)).status_code == 422
    assert (
        await portal.login("boe", "claire.nouvelle@example.org", GOOD_PASSWORD)
    ).status_code == 303


async def test_change_email_refusals(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await add_payer("boe", "B2", "Famille Benali", "benali@example.org")
    await portal.activate("boe", "benali@example.org")
    await portal.activate("boe", "claire@example.org")
    cases = [
        ({"new_email": "nope", "password": GOOD_PASSWORD}, "adresse de messagerie valide"),
        (
            {"new_email": "claire@example.org", "password": GOOD_PASSWORD},
            "déjà celle de votre compte",
        ),
        ({"new_email": "benali@example.org", "password": GOOD_PASSWORD}, "déjà utilisée"),
        (
            {"new_email": "neuve@example.org", "password": "faux"},
            "mot de passe actuel est incorrect",
        ),
    ]
    for data, message in cases:
        response = await portal.post_form(
            "/boe/mes-informations/adresse", data, form_page="/boe/mes-informations"
        )
        assert response.status_code == 422 and message in response.text, message
    assert await AccountToken.count().where(AccountToken.purpose == "email_change") == 0


async def test_account_forms_report_every_error_at_once_and_say_so_in_the_title(
    portal: Portal,
) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    account_page = (await portal.client.get("/boe/mes-informations")).text
    # The browser's own bubbles would show one error at a time: the portal shows them all.
    assert account_page.count("novalidate") == 3
    assert "<title>Mes informations – " in account_page
    assert "autofocus" not in account_page  # only an htmx answer moves the focus

    password = await portal.post_form(
        "/boe/mes-informations/mot-de-passe",
        {"old_password": "faux", "new_password": "court", "confirmation": "autre"},
        form_page="/boe/mes-informations",
    )
    assert password.status_code == 422
    for message in ("mot de passe actuel est incorrect", "au moins", "ne sont pas identiques"):
        assert message in password.text, message
    assert "<title>Erreur – Mes informations – " in password.text

    address = await portal.post_form(
        "/boe/mes-informations/adresse",
        {"new_email": "pas une adresse", "password": "faux"},
        form_page="/boe/mes-informations",
    )
    assert address.status_code == 422
    assert "adresse de messagerie valide" in address.text
    assert "mot de passe actuel est incorrect" in address.text
    assert "<title>Erreur – Mes informations – " in address.text


async def test_a_failed_login_says_erreur_in_the_page_title(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    await portal.post_form("/boe/deconnexion", {}, form_page="/boe/")
    assert "<title>Connexion – " in (await portal.client.get("/boe/connexion")).text
    failed = await portal.login("boe", "claire@example.org", "faux")
    assert failed.status_code == 422
    assert re.search(r"<title>Erreur – Connexion – [^<]+</title>", failed.text)


async def test_pages_of_the_parent_space_need_a_login(portal: Portal) -> None:
    for path in ("/boe/mes-informations", "/boe/factures", "/boe/contact"):
        response = await portal.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/boe/connexion"
    htmx = await portal.client.get("/boe/mes-informations", headers={"hx-request": "true"})
    assert htmx.headers.get("hx-redirect") == "/boe/connexion"


async def test_expired_sessions_are_refused_then_purged(portal: Portal) -> None:
    from core.accounts.sessions import purge_expired_sessions

    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    assert (await portal.client.get("/boe/mes-informations")).status_code == 200
    await WebSession.update(
        {WebSession.expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}, force=True
    )
    page = await portal.client.get("/boe/mes-informations", follow_redirects=False)
    assert page.status_code == 303
    await purge_expired_sessions()
    assert await WebSession.count() == 0
