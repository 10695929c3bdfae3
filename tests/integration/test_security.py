"""Tenancy, CSRF, rate limits, headers and the legacy link."""

from __future__ import annotations

import re
from dataclasses import replace

from core.accounts.tables import Account, WebSession
from core.app import create_app
from core.colours import PAGE_BACKGROUNDS, contrast_ratio
from core.config import PortalConfig
from core.mail.tables import OutboundEmail
from core.settings import Settings
from tests.integration.conftest import GOOD_PASSWORD, Portal, add_payer, serve, sign_in


async def _session_cookie(portal: Portal) -> str:
    cookie = portal.client.cookies.get("portail_session")
    assert cookie
    return cookie


# --- Tenancy -------------------------------------------------------------------------------


async def test_an_account_of_one_commune_cannot_log_in_to_another(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    response = await portal.login("aure", "claire@example.org", GOOD_PASSWORD)
    assert response.status_code == 422
    assert "Adresse de messagerie ou mot de passe incorrect." in response.text


async def test_a_session_of_one_commune_reads_nothing_of_another(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    cookie = await _session_cookie(portal)
    for path in ("/aure/mes-informations", "/aure/factures", "/aure/contact"):
        # Sent by hand: a browser would not even send it, its path is /boe/.
        response = await portal.client.get(
            path, headers={"cookie": f"portail_session={cookie}"}, follow_redirects=False
        )
        # To Aure's login page (which says a session ended: it cannot tell a foreign cookie).
        assert response.status_code == 303
        assert response.headers["location"].startswith("/aure/connexion")
    home = await portal.client.get("/aure/", headers={"cookie": f"portail_session={cookie}"})
    assert "claire@example.org" not in home.text and "Connexion" in home.text


async def test_same_address_gets_separate_accounts_per_commune(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await add_payer("aure", "A1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    await portal.activate("aure", "claire@example.org", "un autre mot de passe pour aure")
    assert await Account.count().where(Account.email == "claire@example.org") == 2
    assert (await portal.login("aure", "claire@example.org", GOOD_PASSWORD)).status_code == 422
    ok = await portal.login("aure", "claire@example.org", "un autre mot de passe pour aure")
    assert ok.status_code == 303


async def test_a_link_of_one_commune_does_not_work_in_another(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.post_form("/boe/activation", {"email": "claire@example.org"})
    link = await portal.link_in_mail("claire@example.org")
    foreign = link.replace("/boe/", "/aure/")
    assert (await portal.client.get(foreign)).status_code == 410
    response = await portal.post_form(
        foreign,
        {"password": GOOD_PASSWORD, "confirmation": GOOD_PASSWORD},
        form_page="/aure/activation",
    )
    assert response.status_code == 410
    assert (await Account.select().first())["state"] == "pending"


async def test_an_unknown_commune_is_not_found(portal: Portal) -> None:
    for path in ("/inconnue/", "/inconnue/connexion", "/inconnue/theme.css"):
        response = await portal.client.get(path)
        assert response.status_code == 404
        assert "Page introuvable" in response.text or path.endswith(".css")


# --- CSRF ----------------------------------------------------------------------------------


async def test_forms_without_a_csrf_token_are_refused(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.client.get("/boe/activation")  # the CSRF cookie is set
    for path, data in (
        ("/boe/activation", {"email": "claire@example.org"}),
        ("/boe/connexion", {"email": "claire@example.org", "password": "x"}),
        ("/boe/mot-de-passe-oublie", {"email": "claire@example.org"}),
    ):
        response = await portal.client.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403, path
        assert "Votre formulaire a expiré" in response.text
    forged = await portal.client.post(
        "/boe/activation",
        data={"email": "claire@example.org", "_csrf_token": "forged"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert await OutboundEmail.count() == 0


async def test_htmx_requests_carry_the_token_in_a_header(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    page = await portal.client.get("/boe/mes-informations")
    token = re.search(r'"x-csrftoken": "([^"]+)"', page.text)
    assert token, "the page must give htmx its CSRF header"
    data = {"old_password": "x", "new_password": "y", "confirmation": "y"}
    refused = await portal.client.post(
        "/boe/mes-informations/mot-de-passe", data=data, headers={"hx-request": "true"}
    )
    assert refused.status_code == 403
    accepted = await portal.client.post(
        "/boe/mes-informations/mot-de-passe",
        data=data,
        headers={"hx-request": "true", "x-csrftoken": token.group(1)},
    )
    assert accepted.status_code == 422 and "Le mot de passe actuel est incorrect." in accepted.text


# --- Rate limits ---------------------------------------------------------------------------


async def test_login_attempts_are_limited_per_address_with_a_french_message(
    portal: Portal,
) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    await portal.post_form("/boe/deconnexion", {}, form_page="/boe/")
    statuses = [
        (await portal.login("boe", "claire@example.org", f"essai {i}")).status_code
        for i in range(10)
    ]
    assert statuses == [422] * 10
    blocked = await portal.login("boe", "claire@example.org", GOOD_PASSWORD)
    assert blocked.status_code == 429
    assert "Trop de tentatives" in blocked.text
    assert await WebSession.count() == 0  # not even the right password gets through


async def test_a_successful_login_clears_the_address_counter(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org")
    for _ in range(3):
        for i in range(5):
            await portal.login("boe", "claire@example.org", f"faux {i}")
        assert (await portal.login("boe", "claire@example.org", GOOD_PASSWORD)).status_code == 303


async def test_link_requests_are_limited_per_address(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    for _ in range(5):
        ok = await portal.post_form("/boe/activation", {"email": "claire@example.org"})
        assert ok.status_code == 303
    blocked = await portal.post_form("/boe/activation", {"email": "claire@example.org"})
    assert blocked.status_code == 429 and "Trop de tentatives" in blocked.text
    assert await OutboundEmail.count() == 5
    # Another address is not affected by this one's limit.
    other = await portal.post_form("/boe/activation", {"email": "autre@example.org"})
    assert other.status_code == 303


# --- Headers, pages, legacy link ------------------------------------------------------------


async def test_security_headers_and_no_inline_script(portal: Portal) -> None:
    response = await portal.client.get("/boe/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["vary"] == "HX-Request"
    assert "<script>" not in response.text and " style=" not in response.text
    assert '<html lang="fr">' in response.text
    assert 'name="viewport"' in response.text
    cookie = response.headers.get("set-cookie", "")
    assert "portail_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


async def test_static_files_and_theme(portal: Portal) -> None:
    htmx = await portal.client.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text
    theme = await portal.client.get("/boe/theme.css")
    assert theme.headers["content-type"].startswith("text/css")
    assert "--commune-colour" in theme.text
    # The focus rings derived from the colour contrast 3:1 where they are drawn (WCAG 1.4.11).
    values = dict(re.findall(r"--([a-z-]+): (#[0-9a-f]{6})", theme.text))
    assert contrast_ratio(values["focus-on-brand"], values["commune-colour"]) >= 3
    assert all(contrast_ratio(values["focus"], page) >= 3 for page in PAGE_BACKGROUNDS)


async def test_legacy_lien_link_redirects_to_its_commune(portal: Portal) -> None:
    response = await portal.client.get("/?LIEN=M470310001", follow_redirects=False)
    assert response.status_code == 301 and response.headers["location"] == "/boe/"
    response = await portal.client.get("/?LIEN=X990030101", follow_redirects=False)
    assert response.headers["location"] == "/aure/"
    unknown = await portal.client.get("/?LIEN=NOPE")
    assert unknown.status_code == 404 and "aucune commune" in unknown.text


async def test_front_page_lists_the_communes(portal: Portal) -> None:
    response = await portal.client.get("/")
    assert response.status_code == 200
    assert "Ville de Boé" in response.text and "Mairie d&#39;Aure" in response.text
    assert "Adresses de démonstration" not in response.text  # only in demo mode


async def test_a_non_ascii_csrf_token_is_refused_like_any_bad_token(portal: Portal) -> None:
    await portal.client.get("/boe/connexion")  # the CSRF cookie
    token = "a" * 64 + "é" * 64  # as long as a real token: its hash part gets compared
    for data, headers in (
        ({"email": "a@example.org", "password": "x", "_csrf_token": token}, {}),
        ({"email": "a@example.org", "password": "x"}, {"x-csrftoken": token.encode()}),
    ):
        response = await portal.client.post(
            "/boe/connexion", data=data, headers=headers, follow_redirects=False
        )
        assert response.status_code == 403, response.text
        assert "Une erreur est survenue" in response.text


async def test_signed_in_pages_are_never_stored_by_a_cache(portal: Portal) -> None:
    await sign_in(portal, "boe", "claire@example.org")
    for path in ("/boe/", "/boe/factures", "/boe/mes-informations", "/boe/contact"):
        response = await portal.client.get(path)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store", path
    # Pages anyone sees may be kept by the browser.
    await portal.client.post("/boe/deconnexion", headers={"x-csrftoken": "x"})
    public = await portal.client.get("/")
    assert "no-store" not in public.headers.get("cache-control", "")


async def test_hsts_only_when_the_portal_is_served_over_https(
    settings: Settings, portal_config: PortalConfig, portal: Portal
) -> None:
    assert "strict-transport-security" not in (await portal.client.get("/")).headers
    https = create_app(
        replace(settings, base_url="https://factures.example.fr"), config=portal_config
    )
    async with serve(https) as client:
        response = await client.get("/")
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
