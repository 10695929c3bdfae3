"""Trust in the account journeys: lock-outs, current-password checks, links that outlive a
change, answers that do not tell known addresses (issue 11, items 5, 6, 7 and 11)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from core.accounts import devices
from core.accounts.tables import WebSession
from core.app import create_app
from core.config import PortalConfig
from core.db import Engine
from core.mail.sink import MailSink
from core.mail.tables import OutboundEmail
from core.settings import Settings
from tests.integration.conftest import GOOD_PASSWORD, Portal, add_payer, serve

CLAIRE = "claire@example.org"
NEW_PASSWORD = "encore un autre mot de passe"
RATE_LIMITED = "Trop de tentatives"


@pytest.fixture
async def proxied(
    clean_db: Engine, settings: Settings, portal_config: PortalConfig, mail_sink: MailSink
) -> AsyncIterator[tuple[Litestar, Portal]]:
    """The portal behind one proxy of ours: X-Forwarded-For's right-most entry is the client."""
    settings = dataclasses.replace(settings, trusted_proxy_hops=1)
    app = create_app(settings, config=portal_config)
    mail_sink.clear()
    async with serve(app) as client:
        yield app, Portal(client=client, sink=mail_sink, settings=settings)


def _from(app: Litestar, address: str) -> httpx.AsyncClient:
    """Another browser, connecting from `address` (as our proxy says)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://portail.test",
        headers={"x-forwarded-for": address},
        follow_redirects=True,
    )


async def _login(client: httpx.AsyncClient, password: str, email: str = CLAIRE) -> httpx.Response:
    browser = Portal(client=client, sink=None, settings=None)  # type: ignore[arg-type]
    return await browser.login("boe", email, password)


async def _change_password(portal: Portal, old: str, new: str = NEW_PASSWORD) -> httpx.Response:
    return await portal.post_form(
        "/boe/mes-informations/mot-de-passe",
        {"old_password": old, "new_password": new, "confirmation": new},
        form_page="/boe/mes-informations",
    )


async def _change_email(portal: Portal, password: str, new_email: str) -> httpx.Response:
    return await portal.post_form(
        "/boe/mes-informations/adresse",
        {"new_email": new_email, "password": password},
        form_page="/boe/mes-informations",
    )


# --- Item 5: no one can lock a parent out -------------------------------------------------


async def test_failures_from_elsewhere_do_not_stop_the_owners_device(
    proxied: tuple[Litestar, Portal],
) -> None:
    app, portal = proxied
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    await portal.activate("boe", CLAIRE)
    async with _from(app, "198.51.100.1") as owner, _from(app, "203.0.113.66") as attacker:
        assert (await _login(owner, GOOD_PASSWORD)).status_code == 303  # the known device
        assert owner.cookies.get(devices.COOKIE_NAME)
        await owner.post("/boe/deconnexion", data={"_csrf_token": await _csrf(owner)})
        statuses = [(await _login(attacker, f"essai {i}")).status_code for i in range(20)]
        assert statuses[:10] == [422] * 10 and set(statuses[10:]) == {429}
        # The owner's browser comes in; a browser it never used is blocked for the address.
        assert (await _login(owner, GOOD_PASSWORD)).status_code == 303
        async with _from(app, "198.51.100.2") as new_browser:
            blocked = await _login(new_browser, GOOD_PASSWORD)
            assert blocked.status_code == 429 and RATE_LIMITED in blocked.text


async def test_failures_from_the_same_client_are_still_limited(
    proxied: tuple[Litestar, Portal],
) -> None:
    app, portal = proxied
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    await portal.activate("boe", CLAIRE)
    async with _from(app, "198.51.100.1") as owner:
        assert (await _login(owner, GOOD_PASSWORD)).status_code == 303
        sessions = await WebSession.count()
        statuses = [(await _login(owner, f"essai {i}")).status_code for i in range(10)]
        assert statuses == [422] * 10
        blocked = await _login(owner, GOOD_PASSWORD)  # even its own device, from there
        assert blocked.status_code == 429 and RATE_LIMITED in blocked.text
        assert await WebSession.count() == sessions  # no session for the blocked one


async def test_only_failures_are_counted_for_an_address(proxied: tuple[Litestar, Portal]) -> None:
    app, portal = proxied
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    await portal.activate("boe", CLAIRE)
    async with _from(app, "198.51.100.1") as owner:
        for _ in range(15):  # more successes than the address's limit of failures
            assert (await _login(owner, GOOD_PASSWORD)).status_code == 303


async def test_a_known_device_cookie_is_signed_for_one_address() -> None:
    value = devices.cookie_value("secret", "boe", CLAIRE)
    assert devices.is_known("secret", "boe", CLAIRE, value)
    assert not devices.is_known("secret", "boe", "other@example.org", value)
    assert not devices.is_known("secret", "aure", CLAIRE, value)
    assert not devices.is_known("another secret", "boe", CLAIRE, value)
    address_hash, expires, signature = value.split(".")
    forged = f"{address_hash}.{int(expires) + 1}.{signature}"
    assert not devices.is_known("secret", "boe", CLAIRE, forged)
    expired = devices.cookie_value("secret", "boe", CLAIRE, now=0)
    assert not devices.is_known("secret", "boe", CLAIRE, expired)
    for garbage in ("", "x", "a.b.c", "é.1.2", None):
        assert not devices.is_known("secret", "boe", CLAIRE, garbage)


async def _csrf(client: httpx.AsyncClient) -> str:
    browser = Portal(client=client, sink=None, settings=None)  # type: ignore[arg-type]
    return await browser.csrf("/boe/connexion")


# --- Item 6: current-password checks are limited -------------------------------------------


async def test_wrong_current_passwords_are_limited_on_change_password(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    await portal.activate("boe", CLAIRE)
    statuses = [(await _change_password(portal, f"faux {i}")).status_code for i in range(10)]
    assert statuses == [422] * 10
    blocked = await _change_password(portal, GOOD_PASSWORD)
    assert blocked.status_code == 429 and RATE_LIMITED in blocked.text
    # The e-mail form checks the same password: limited too.
    blocked = await _change_email(portal, GOOD_PASSWORD, "neuve@example.org")
    assert blocked.status_code == 429 and RATE_LIMITED in blocked.text
    assert await OutboundEmail.count().where(OutboundEmail.recipient == "neuve@example.org") == 0


async def test_wrong_current_passwords_are_limited_on_change_email(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    await portal.activate("boe", CLAIRE)
    for i in range(10):
        wrong = await _change_email(portal, f"faux {i}", "neuve@example.org")
        assert wrong.status_code == 422
    blocked = await _change_email(portal, GOOD_PASSWORD, "neuve@example.org")
    assert blocked.status_code == 429 and RATE_LIMITED in blocked.text


async def test_a_right_current_password_clears_the_failures(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    await portal.activate("boe", CLAIRE)
    password = GOOD_PASSWORD
    for round_number in range(3):
        for i in range(5):
            assert (await _change_password(portal, f"faux {i}")).status_code == 422
        new = f"{NEW_PASSWORD} {round_number}"
        assert (await _change_password(portal, password, new)).status_code == 303
        password = new


# --- Item 7: links do not outlive a change -------------------------------------------------


async def test_a_password_change_retires_reset_and_email_change_links(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    await portal.activate("boe", CLAIRE)
    await portal.post_form("/boe/mot-de-passe-oublie", {"email": CLAIRE})
    reset_link = await portal.link_in_mail(CLAIRE, "mot de passe")
    assert (await _change_email(portal, GOOD_PASSWORD, "neuve@example.org")).status_code == 303
    email_link = await portal.link_in_mail("neuve@example.org", "validez")
    assert (await portal.client.get(reset_link)).status_code == 200
    assert (await portal.client.get(email_link)).status_code == 200

    assert (await _change_password(portal, GOOD_PASSWORD)).status_code == 303
    assert (await portal.client.get(reset_link)).status_code == 410
    assert (await portal.client.get(email_link)).status_code == 410


async def test_a_reset_retires_the_email_change_links(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    await portal.activate("boe", CLAIRE)
    assert (await _change_email(portal, GOOD_PASSWORD, "neuve@example.org")).status_code == 303
    email_link = await portal.link_in_mail("neuve@example.org", "validez")
    await portal.post_form("/boe/mot-de-passe-oublie", {"email": CLAIRE})
    reset_link = await portal.link_in_mail(CLAIRE, "mot de passe")
    done = await portal.post_form(
        reset_link, {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    )
    assert done.status_code == 303
    assert (await portal.client.get(email_link)).status_code == 410


async def test_an_email_change_retires_the_reset_links(portal: Portal) -> None:
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    await portal.activate("boe", CLAIRE)
    await portal.post_form("/boe/mot-de-passe-oublie", {"email": CLAIRE})
    reset_link = await portal.link_in_mail(CLAIRE, "mot de passe")
    assert (await _change_email(portal, GOOD_PASSWORD, "neuve@example.org")).status_code == 303
    email_link = await portal.link_in_mail("neuve@example.org", "validez")
    assert (await portal.post_form(email_link, {})).status_code == 303
    assert (await portal.client.get(reset_link)).status_code == 410


# --- Item 11: the answer comes before the work ---------------------------------------------


def _visible(response: httpx.Response) -> tuple[int, str, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k not in {"date"})
    return response.status_code, response.text, headers


@pytest.mark.parametrize(
    ("path", "subject"), [("/boe/activation", "Accès"), ("/boe/mot-de-passe-oublie", "")]
)
async def test_link_requests_answer_the_same_for_known_and_unknown_addresses(
    portal: Portal, path: str, subject: str
) -> None:
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    if subject == "":  # the forgotten password of an active account
        await portal.activate("boe", CLAIRE)
        subject = "mot de passe"
    token = await portal.csrf(path)
    answers = [
        await portal.client.post(
            path, data={"email": email, "_csrf_token": token}, follow_redirects=False
        )
        for email in (CLAIRE, "inconnu@example.org")
    ]
    assert _visible(answers[0]) == _visible(answers[1])
    assert answers[0].status_code == 303
    # The known address still gets its e-mail (the background work is done by now).
    assert await portal.link_in_mail(CLAIRE, subject)
    assert await OutboundEmail.count().where(OutboundEmail.recipient == "inconnu@example.org") == 0


async def test_link_requests_schedule_the_work_after_the_answer(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.accounts import services

    ran: list[str] = []

    async def record(*args: object, **kwargs: object) -> None:
        ran.append("work")

    monkeypatch.setattr(services, "send_activation_link", record)
    monkeypatch.setattr(services, "send_reset_link", record)
    for path in ("/boe/activation", "/boe/mot-de-passe-oublie"):
        response = await portal.post_form(path, {"email": CLAIRE})
        assert response.status_code == 303
    assert ran == ["work", "work"]


async def test_an_error_in_the_background_work_is_logged(
    portal: Portal, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from core.accounts import services

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(services, "send_activation_link", broken)
    response = await portal.post_form("/boe/activation", {"email": CLAIRE})
    assert response.status_code == 303
    assert "database gone" in caplog.text
