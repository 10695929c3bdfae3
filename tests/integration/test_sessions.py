"""Parents' sessions: the inactivity timeout, the list of open sessions in "Mes informations"
and "Se déconnecter partout" (issue 11, item 13)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from core.accounts.sessions import signed_in
from core.accounts.tables import Account, WebSession
from core.security.tokens import digest
from tests.integration.conftest import (
    GOOD_PASSWORD,
    Portal,
    SecurityLog,
    add_invoice,
    add_payer,
    sign_in,
)

PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Mobile Safari/537.36"
)
LAPTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


@contextlib.asynccontextmanager
async def other_browser(app: Litestar, portal: Portal, user_agent: str) -> AsyncIterator[Portal]:
    """A second browser on the same portal: its own cookies and User-Agent."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://portail.test",
        follow_redirects=True,
        headers={"user-agent": user_agent},
    ) as client:
        yield Portal(client=client, sink=portal.sink, settings=portal.settings)


async def _last_seen(minutes_ago: float) -> None:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    await WebSession.update({WebSession.last_seen_at: moment}, force=True)


async def test_a_session_unused_for_30_minutes_ends(portal: Portal) -> None:
    await sign_in(portal)
    assert (await portal.client.get("/boe/factures")).status_code == 200
    await _last_seen(31)
    response = await portal.client.get("/boe/factures", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/boe/connexion?info=session_ended"
    login = await portal.client.get(response.headers["location"])
    assert "Votre session a pris fin" in login.text
    # An htmx request is sent to the same place.
    htmx = await portal.client.get("/boe/factures", headers={"hx-request": "true"})
    assert htmx.headers.get("hx-redirect") == "/boe/connexion?info=session_ended"


async def test_a_session_in_use_stays_open_and_records_when_it_was_seen(portal: Portal) -> None:
    await sign_in(portal)
    await _last_seen(29)
    assert (await portal.client.get("/boe/factures")).status_code == 200
    row = await WebSession.select(WebSession.last_seen_at).first()
    assert row is not None
    assert dt.datetime.now(dt.UTC) - row["last_seen_at"] < dt.timedelta(seconds=30)
    # 29 more minutes after that page: still open, since the page counted as activity.
    await _last_seen(29)
    assert (await portal.client.get("/boe/mes-informations")).status_code == 200


async def test_last_seen_is_written_at_most_once_a_minute(portal: Portal) -> None:
    await sign_in(portal)
    await _last_seen(0.5)
    before = await WebSession.select(WebSession.last_seen_at).first()
    assert (await portal.client.get("/boe/factures")).status_code == 200
    after = await WebSession.select(WebSession.last_seen_at).first()
    assert before == after


async def test_se_souvenir_de_moi_is_not_ended_by_inactivity(portal: Portal) -> None:
    await sign_in(portal)
    await portal.post_form("/boe/deconnexion", {}, form_page="/boe/")
    await portal.login("boe", "claire@example.org", GOOD_PASSWORD, remember=True)
    await _last_seen(24 * 60)
    assert (await portal.client.get("/boe/factures")).status_code == 200


async def test_no_inactivity_timeout_when_the_setting_is_zero(portal: Portal) -> None:
    await sign_in(portal)
    session = await WebSession.select(WebSession.account.commune.as_alias("commune")).first()
    assert session is not None
    await _last_seen(600)
    secret = portal.client.cookies.get("portail_session")
    assert await signed_in(secret, session["commune"], dt.timedelta(minutes=30)) is None
    # PORTAIL_SESSION_IDLE_MINUTES=0 gives no timeout (tests/unit/test_settings.py).
    assert await signed_in(secret, session["commune"], None) is not None


async def test_mes_informations_lists_the_open_sessions(portal: Portal, app: Litestar) -> None:
    async with other_browser(app, portal, PHONE) as phone:
        await sign_in(phone)
        async with other_browser(app, portal, LAPTOP) as laptop:
            await laptop.login("boe", "claire@example.org", GOOD_PASSWORD, remember=True)
            page = await phone.client.get("/boe/mes-informations")
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "Mes sessions" in text
    assert "Chrome sur Android" in text and "Firefox sur Windows" in text
    # This browser's session comes first and says so; the other kept "Se souvenir de moi".
    assert text.index("Chrome sur Android") < text.index("Cet appareil")
    assert text.index("Cet appareil") < text.index("Firefox sur Windows")
    assert text.count("Cet appareil") == 1
    assert "« Se souvenir de moi » (30 jours)" in text
    assert "Se déconnecter partout" in text


async def test_ended_sessions_are_not_listed(portal: Portal, app: Litestar) -> None:
    await sign_in(portal)
    async with other_browser(app, portal, LAPTOP) as laptop:
        await laptop.login("boe", "claire@example.org", GOOD_PASSWORD)
        secret = laptop.client.cookies.get("portail_session")
        assert secret is not None
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=45)
    await WebSession.update({WebSession.last_seen_at: moment}).where(
        WebSession.id_hash == digest(secret)
    )
    page = await portal.client.get("/boe/mes-informations")
    assert "Firefox sur Windows" not in page.text


async def test_se_deconnecter_partout_ends_every_session(portal: Portal, app: Litestar) -> None:
    await sign_in(portal)
    async with other_browser(app, portal, LAPTOP) as laptop:
        await laptop.login("boe", "claire@example.org", GOOD_PASSWORD, remember=True)
        assert (await laptop.client.get("/boe/factures")).status_code == 200
        assert await WebSession.count() == 2

        response = await portal.post_form(
            "/boe/mes-informations/sessions/fermer", {}, form_page="/boe/mes-informations"
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/boe/connexion?info=logged_out_everywhere"
        assert 'portail_session=""' in response.headers["set-cookie"]
        assert await WebSession.count() == 0
        login = await portal.client.get(response.headers["location"])
        assert "Vous êtes déconnecté sur tous vos appareils." in login.text

        other = await laptop.client.get("/boe/factures", follow_redirects=False)
        assert other.status_code == 303
        assert other.headers["location"] == "/boe/connexion?info=session_ended"
    # The account itself still works.
    again = await portal.login("boe", "claire@example.org", GOOD_PASSWORD)
    assert again.status_code == 303


async def test_se_deconnecter_partout_needs_the_csrf_token(portal: Portal) -> None:
    await sign_in(portal)
    response = await portal.client.post(
        "/boe/mes-informations/sessions/fermer", data={}, follow_redirects=False
    )
    assert response.status_code == 403
    assert await WebSession.count() == 1


async def test_se_deconnecter_partout_is_in_the_security_log(
    portal: Portal, security_log: SecurityLog
) -> None:
    await sign_in(portal)
    await portal.post_form(
        "/boe/mes-informations/sessions/fermer", {}, form_page="/boe/mes-informations"
    )
    (line,) = [x for x in security_log.lines("logout") if x.get("reason") == "everywhere"]
    assert line["outcome"] == "success" and isinstance(line["account"], int)


async def test_a_login_stores_its_session_as_the_query_builder_reads_it(
    portal: Portal, app: Litestar
) -> None:
    """The login's hand-written statements store values of the columns' types: Piccolo reads
    back aware timestamps and a boolean, and the header's name is the payer's."""
    await sign_in(portal)
    async with other_browser(app, portal, PHONE) as phone:
        before = dt.datetime.now(dt.UTC)
        response = await phone.login("boe", "claire@example.org", GOOD_PASSWORD, remember=True)
        assert response.status_code == 303
        secret = phone.client.cookies["portail_session"]
    row = (
        await WebSession.select(
            WebSession.all_columns(), WebSession.account.commune.as_alias("commune")
        )
        .where(WebSession.id_hash == digest(secret))
        .first()
    )
    assert row is not None
    assert row["persistent"] is True
    assert row["display_name"] == "Famille P1"
    assert row["user_agent"] == PHONE
    assert before <= row["created_at"] == row["last_seen_at"] <= dt.datetime.now(dt.UTC)
    assert row["expires_at"] - row["created_at"] == dt.timedelta(days=30)
    account = await signed_in(secret, row["commune"])
    assert account is not None and account.persistent and account.display_name == "Famille P1"


async def _idle() -> None:
    await _last_seen(31)


async def _password_changed_elsewhere() -> None:
    await Account.update({Account.auth_version: Account.auth_version + 1}, force=True)


async def _expired() -> None:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await WebSession.update({WebSession.expires_at: moment}, force=True)


async def _logged_out_elsewhere() -> None:
    await WebSession.delete(force=True)


async def _account_disabled() -> None:
    await Account.update({Account.state: "disabled"}, force=True)


# How a session ends without this browser asking ("Mes factures" reads the session with its
# rows, in one statement on PostgreSQL: each way must end it as it ends every other page).
SESSION_ENDINGS = {
    "unused for 31 minutes": _idle,
    "password changed elsewhere": _password_changed_elsewhere,
    "expired": _expired,
    "logged out elsewhere": _logged_out_elsewhere,
    "account disabled": _account_disabled,
}
TABS = ("/boe/factures", "/boe/factures/reglees", "/boe/factures/tresorerie")


@pytest.mark.parametrize("ending", SESSION_ENDINGS)
async def test_mes_factures_ends_with_its_session(portal: Portal, ending: str) -> None:
    payer = await sign_in(portal)
    invoice = await add_invoice("boe", payer, "MINE-1")
    paths = (*TABS, f"/boe/factures/{invoice}")
    for path in paths:
        page = await portal.client.get(path)
        assert page.status_code == 200 and "Famille P1" in page.text
    pdf = await portal.client.get(f"/boe/factures/{invoice}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    await SESSION_ENDINGS[ending]()
    for path in (*paths, f"/boe/factures/{invoice}/pdf"):
        for headers in ({}, {"hx-request": "true", "hx-target": "invoice-list"}):
            response = await portal.client.get(path, headers=headers, follow_redirects=False)
            assert "Famille P1" not in response.text, (path, headers)
            assert "MINE-1" not in response.text, (path, headers)
            if headers:
                assert response.headers.get("hx-redirect") == "/boe/connexion?info=session_ended"
            else:
                assert response.status_code == 303, (path, response.status_code)
                assert response.headers["location"] == "/boe/connexion?info=session_ended"


async def test_a_session_of_another_commune_opens_no_invoice_page(portal: Portal) -> None:
    """A session cookie of Aure sent to Boé's tabs (a browser sends it to Aure's pages only, a
    person can send it anywhere) is no session there, even for a payer of both communes."""
    await sign_in(portal, slug="aure")
    boe_payer = await add_payer("boe", "B1", "Famille B1", "claire@example.org")
    invoice = await add_invoice("boe", boe_payer)
    secret = portal.client.cookies.get("portail_session")
    assert secret
    pages = (*TABS, f"/boe/factures/{invoice}", "/boe/factures/0", f"/boe/factures/{invoice}/pdf")
    for path in pages:
        response = await portal.client.get(
            path, headers={"cookie": f"portail_session={secret}"}, follow_redirects=False
        )
        assert response.status_code == 303, (path, response.status_code)
        assert response.headers["location"].startswith("/boe/connexion")
        assert "Famille" not in response.text


async def test_no_cookie_or_an_unknown_one_opens_no_invoice_page(portal: Portal) -> None:
    payer = await sign_in(portal)
    invoice = await add_invoice("boe", payer)
    portal.client.cookies.clear()
    paths = (
        *TABS,
        f"/boe/factures/{invoice}",
        "/boe/factures/0",
        "/boe/factures/99999999999",
        f"/boe/factures/{invoice}/pdf",
        "/boe/factures/0/pdf",
    )
    for cookie in (
        {},
        {"cookie": "portail_session=inconnu"},
        {"cookie": "portail_session=" + "x" * 5000},
    ):
        for path in paths:
            response = await portal.client.get(path, headers=cookie, follow_redirects=False)
            assert response.status_code == 303, (path, cookie, response.status_code)
            assert response.headers["location"].startswith("/boe/connexion")
