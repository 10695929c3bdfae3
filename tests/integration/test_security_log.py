"""The security log (issue 11, item 4): one JSON line per event, with commune, account or
agent, client address and outcome, and never a password, token, link or full address."""

from __future__ import annotations

import re

from core.accounts.sessions import COOKIE_NAME
from core.backoffice.tables import ADMINISTRATEUR, GESTIONNAIRE, LECTEUR
from tests.integration.backoffice.web import agent_login, create_web_agent, enrol_totp
from tests.integration.conftest import (
    GOOD_PASSWORD,
    LINK_PATTERN,
    Portal,
    SecurityLog,
    add_invoice,
    add_payer,
    sign_in,
)

CLAIRE = "claire@example.org"
NEW_PASSWORD = "un tout autre mot de passe"
CLIENT = "127.0.0.1"  # httpx's ASGI transport
PASSWORD_STEP = {"reason": "password"}


def _without_time(line: dict[str, object]) -> dict[str, object]:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(line.pop("time")))
    return line


async def test_a_parents_journey_is_logged_without_its_secrets(
    portal: Portal, security_log: SecurityLog
) -> None:
    await add_payer("boe", "B1", "Famille Martin", CLAIRE)
    await portal.activate("boe", CLAIRE)  # request, link, password chosen
    session_cookie = portal.client.cookies[COOKIE_NAME]
    account = security_log.lines("activation")[0]["account"]
    assert isinstance(account, int)
    await portal.client.post("/boe/deconnexion", data={"_csrf_token": await portal.csrf("/boe/")})
    assert (await portal.login("boe", CLAIRE, "pas le bon mot de passe")).status_code == 422
    assert (await portal.login("boe", "inconnu@example.org", GOOD_PASSWORD)).status_code == 422
    assert (await portal.login("boe", CLAIRE, GOOD_PASSWORD)).status_code == 303
    wrong = {"old_password": "faux", "new_password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    page = "/boe/mes-informations"
    change = f"{page}/mot-de-passe"
    assert (await portal.post_form(change, wrong, form_page=page)).status_code == 422
    right = {**wrong, "old_password": GOOD_PASSWORD}
    assert (await portal.post_form(change, right, form_page=page)).status_code == 303
    email_form = {"new_email": "claire.martin@example.org", "password": NEW_PASSWORD}
    await portal.post_form(f"{page}/adresse", email_form, form_page=page)
    confirm = await portal.link_in_mail("claire.martin@example.org")
    assert (await portal.post_form(confirm, {})).status_code == 303
    await portal.post_form("/boe/mot-de-passe-oublie", {"email": "claire.martin@example.org"})
    reset = await portal.link_in_mail("claire.martin@example.org", "mot de passe")
    short = {"password": "court", "confirmation": "court"}
    assert (await portal.post_form(reset, short)).status_code == 422
    again = {"password": GOOD_PASSWORD, "confirmation": GOOD_PASSWORD}
    assert (await portal.post_form(reset, again)).status_code == 303
    used = await portal.post_form(reset, again, form_page=page)
    assert used.status_code == 410
    csrf = await portal.client.post(f"{page}/mot-de-passe", data=right)
    assert csrf.status_code == 403

    lines = [_without_time(line) for line in security_log.lines()]
    base = {"commune": "boe", "client": CLIENT}
    assert lines == [
        {"event": "activation_request", "outcome": "accepted", **base, "email": "c***@example.org"},
        {"event": "activation", "outcome": "success", **base, "account": account},
        {"event": "logout", "outcome": "success", **base, "account": account},
        {"event": "login", "outcome": "failure", **base, "email": "c***@example.org"},
        {"event": "login", "outcome": "failure", **base, "email": "i***@example.org"},
        {"event": "login", "outcome": "success", **base, "account": account},
        {
            "event": "password_change",
            "outcome": "failure",
            **base,
            "account": account,
            "reason": "old_password",
        },
        {"event": "password_change", "outcome": "success", **base, "account": account},
        {"event": "email_change_request", "outcome": "success", **base, "account": account},
        {"event": "email_change", "outcome": "success", **base, "account": account},
        {"event": "reset_request", "outcome": "accepted", **base, "email": "c***@example.org"},
        {"event": "password_reset", "outcome": "failure", **base, "reason": "password"},
        {"event": "password_reset", "outcome": "success", **base, "account": account},
        {"event": "password_reset", "outcome": "failure", **base, "reason": "link"},
        {
            "event": "csrf",
            "outcome": "refused",
            **base,
            "method": "POST",
            "path": "/boe/mes-informations/mot-de-passe",
        },
    ]

    text = security_log.text
    secrets = [GOOD_PASSWORD, NEW_PASSWORD, "pas le bon mot de passe", session_cookie]
    secrets += [CLAIRE, "claire.martin@example.org", "inconnu@example.org"]
    tokens = [
        link.rstrip("/").rsplit("/", 1)[1]
        for mail in portal.sink.messages
        for link in LINK_PATTERN.findall(mail.text)
    ]
    assert len(tokens) >= 3  # activation, e-mail change, reset
    for secret in [*secrets, *tokens]:
        assert secret not in text


async def test_logins_stopped_by_the_limits_are_logged_throttled(
    portal: Portal, security_log: SecurityLog
) -> None:
    await sign_in(portal)
    portal.client.cookies.clear()
    for _ in range(11):
        await portal.login("boe", CLAIRE, "pas le bon mot de passe")
    assert security_log.outcomes("login")[-2:] == ["failure", "throttled"]
    assert security_log.lines("login")[-1]["email"] == "c***@example.org"


async def test_another_payers_invoice_or_payment_is_a_logged_404(
    portal: Portal, security_log: SecurityLog
) -> None:
    other = await add_payer("boe", "B9", "Famille Autre", "autre@example.org")
    theirs = await add_invoice("boe", other)
    await sign_in(portal)
    account = security_log.lines("activation")[0]["account"]
    assert (await portal.client.get(f"/boe/factures/{theirs}")).status_code == 404
    assert (await portal.client.get(f"/boe/factures/{theirs}/pdf")).status_code == 404
    assert (await portal.client.get(f"/boe/factures/{theirs + 1000}")).status_code == 404
    refused = [_without_time(line) for line in security_log.lines("foreign_object")]
    assert refused == [
        {
            "event": "foreign_object",
            "outcome": "refused",
            "commune": "boe",
            "client": CLIENT,
            "account": account,
            "method": "GET",
            "path": path,
        }
        for path in (f"/boe/factures/{theirs}", f"/boe/factures/{theirs}/pdf")
    ]  # an id that is no one's is a plain 404


async def test_agents_logins_refusals_and_logouts_are_logged(
    portal: Portal, security_log: SecurityLog
) -> None:
    await create_web_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    await create_web_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    wrong = await portal.post_form(
        "/boe/gestion/connexion", {"email": "gestion@boe.test", "password": "faux"}
    )
    assert wrong.status_code == 422
    assert (await agent_login(portal, "boe", "lecteur@boe.test")).status_code == 303
    assert (await portal.client.get("/boe/gestion/agents")).status_code == 403
    token = await portal.csrf("/boe/gestion/")
    await portal.client.post("/boe/gestion/deconnexion", data={"_csrf_token": token})

    lines = [_without_time(line) for line in security_log.lines()]
    agent = lines[1]["agent"]
    assert isinstance(agent, int)
    base = {"commune": "boe", "client": CLIENT}
    assert lines == [
        {"event": "agent_login", "outcome": "failure", **base, "email": "g***@boe.test"},
        {
            "event": "agent_login",
            "outcome": "success",
            **base,
            "agent": agent,
            "reason": "password",
        },
        {
            "event": "permission",
            "outcome": "refused",
            **base,
            "agent": agent,
            "method": "GET",
            "path": "/boe/gestion/agents",
        },
        {"event": "agent_logout", "outcome": "success", **base, "agent": agent},
    ]
    assert GOOD_PASSWORD not in security_log.text


async def test_the_second_factor_is_logged_without_the_code(
    portal: Portal, security_log: SecurityLog
) -> None:
    await create_web_agent(portal, "boe", "admin@boe.test", ADMINISTRATEUR)
    await agent_login(portal, "boe", "admin@boe.test")
    _, codes = await enrol_totp(portal, "boe")
    await portal.post_form("/boe/gestion/deconnexion", {}, form_page="/boe/gestion/")
    await agent_login(portal, "boe", "admin@boe.test")
    await portal.post_form("/boe/gestion/verification", {"code": "000000"})
    await portal.post_form("/boe/gestion/verification", {"code": codes[0]})

    logins = [(line["outcome"], line.get("reason")) for line in security_log.lines("agent_login")]
    assert logins == [
        ("success", "password"),  # not enrolled yet: the enrolment comes next
        ("success", "password, second factor to come"),
        ("second_factor_failure", "second factor"),
        ("success", "second factor"),
    ]
    assert len({line["agent"] for line in security_log.lines("agent_login")}) == 1
    assert codes[0] not in security_log.text and "000000" not in security_log.text
