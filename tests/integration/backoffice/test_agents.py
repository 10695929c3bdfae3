"""Agents: invitation e-mail, password from the link, login, sessions, withdrawal."""

from __future__ import annotations

import datetime as dt

import pytest

from core.backoffice import agents, sessions
from core.backoffice.agents import (
    LoginFailure,
    authenticate,
    create_agent,
    disable_agent,
    enable_agent,
    invite_agent,
    set_password,
    valid_password_token,
)
from core.backoffice.identity import AgentInfo, NotAllowed, get_agent
from core.backoffice.journal import Actor, list_entries
from core.backoffice.sessions import agent_from_session, end_agent_session, open_agent_session
from core.backoffice.tables import AgentSession, AgentToken
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.mail.sender import OutboxSender
from core.mail.sink import MailSink
from core.settings import Settings
from core.web.forms import Problems
from tests.integration.backoffice.conftest import last_link_to, make_agent
from tests.integration.conftest import GOOD_PASSWORD, LINK_PATTERN

IP = "192.0.2.1"


async def test_invitation_mail_then_password_then_login(
    communes: dict[str, CommuneContext],
    mailer: Mailer,
    settings: Settings,
    mail_sink: MailSink,
) -> None:
    boe = communes["boe"]
    mail_sink.clear()
    agent = await create_agent(
        boe, " Agent@Boe.Test ", "gestionnaire", "Anne Agent", mailer, Actor.command_line()
    )
    assert (agent.email, agent.role, agent.has_password) == (
        "agent@boe.test",
        "gestionnaire",
        False,
    )

    await OutboxSender(settings).deliver_due()
    await mail_sink.await_for(lambda m: "agent@boe.test" in m.recipients, timeout=5)
    mail = mail_sink.messages[-1]
    assert mail.subject == "Votre accès à la gestion du portail des factures"
    assert "Ville de Boé" in mail.text and "« gestionnaire »" in mail.text
    assert "72 heures" in mail.text
    link = LINK_PATTERN.findall(mail.text)[0].removeprefix(settings.base_url)
    assert link.startswith("/boe/gestion/mot-de-passe/")
    secret = link.rsplit("/", 1)[1]
    assert len(secret) >= 43  # 256 bits, URL-safe
    assert await AgentToken.exists().where(AgentToken.token_hash == secret) is False  # hashed

    # An agent cannot log in before choosing a password.
    assert await authenticate(boe, "agent@boe.test", "", IP) is LoginFailure.BAD_CREDENTIALS

    with pytest.raises(Problems) as short:
        await set_password(boe, secret, "court", "court")
    assert "password" in short.value.errors
    assert await valid_password_token(communes["aure"], secret) is None  # another commune's
    agent = await set_password(boe, secret, GOOD_PASSWORD, GOOD_PASSWORD)
    assert agent.has_password
    with pytest.raises(Problems) as reused:  # single use
        await set_password(boe, secret, GOOD_PASSWORD, GOOD_PASSWORD)
    assert "token" in reused.value.errors

    signed = await authenticate(boe, "AGENT@boe.test", GOOD_PASSWORD, IP)
    assert isinstance(signed, AgentInfo) and signed.id == agent.id
    secret = await open_agent_session(signed.id, signed.auth_version)
    session = await agent_from_session(secret, boe.id)
    assert session is not None and session.full and session.agent.id == agent.id
    assert await agent_from_session(secret, communes["aure"].id) is None
    await end_agent_session(session.session_hash)
    assert await agent_from_session(secret, boe.id) is None

    actions = [e.action for e in (await list_entries(boe.id)).entries]
    assert actions == ["agents.login", "agents.password_set", "agents.create"]


async def test_expired_link_refused(communes: dict[str, CommuneContext], mailer: Mailer) -> None:
    boe = communes["boe"]
    await create_agent(boe, "a@boe.test", "lecteur", "", mailer, Actor.command_line())
    secret = (await last_link_to("a@boe.test")).rsplit("/", 1)[1]
    await AgentToken.update(
        {AgentToken.expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}, force=True
    )
    with pytest.raises(Problems):
        await set_password(boe, secret, GOOD_PASSWORD, GOOD_PASSWORD)


async def test_creation_refusals(communes: dict[str, CommuneContext], mailer: Mailer) -> None:
    boe, cli = communes["boe"], Actor.command_line()
    await create_agent(boe, "a@boe.test", "lecteur", "", mailer, cli)
    for args, field in [
        (("not-an-address", "lecteur"), "email"),
        (("b@boe.test", "superviseur"), "role"),  # never from a commune
        (("b@boe.test", "chef"), "role"),
        (("A@boe.test", "lecteur"), "email"),  # taken
    ]:
        with pytest.raises(Problems) as problems:
            await create_agent(boe, *args, "", mailer, cli)
        assert field in problems.value.errors
    # The same address may serve in another commune, but not as a superviseur's.
    await create_agent(communes["aure"], "a@boe.test", "lecteur", "", mailer, cli)
    with pytest.raises(Problems):
        await create_agent(None, "a@boe.test", "superviseur", "", mailer, cli, link_commune=boe)


async def test_wrong_passwords_are_rate_limited(
    communes: dict[str, CommuneContext], mailer: Mailer
) -> None:
    boe = communes["boe"]
    await make_agent(boe, mailer, "a@boe.test", "lecteur")
    limit = agents.LOGIN_PER_ADDRESS.max_hits
    results = [await authenticate(boe, "a@boe.test", "mauvais", IP) for _ in range(limit)]
    assert set(results) == {LoginFailure.BAD_CREDENTIALS}
    assert await authenticate(boe, "a@boe.test", GOOD_PASSWORD, IP) is LoginFailure.RATE_LIMITED
    assert LoginFailure.RATE_LIMITED.message.startswith("Trop de tentatives")


async def test_disabled_agent_is_refused_and_loses_sessions(
    communes: dict[str, CommuneContext], mailer: Mailer
) -> None:
    boe = communes["boe"]
    admin = await make_agent(boe, mailer, "admin@boe.test", "administrateur")
    agent = await make_agent(boe, mailer, "a@boe.test", "gestionnaire")
    secret = await open_agent_session(agent.id, agent.auth_version)

    with pytest.raises(NotAllowed):
        await disable_agent(agent, admin.id, boe.id)  # a gestionnaire manages no one
    with pytest.raises(NotAllowed):
        await disable_agent(admin, admin.id, boe.id)  # nor oneself
    with pytest.raises(NotAllowed):
        await disable_agent(admin, agent.id, communes["aure"].id)  # nor in another commune
    disabled = await disable_agent(admin, agent.id, boe.id, IP)
    assert disabled.disabled
    assert await agent_from_session(secret, boe.id) is None
    assert await authenticate(boe, "a@boe.test", GOOD_PASSWORD, IP) is LoginFailure.BAD_CREDENTIALS

    await enable_agent(admin, agent.id, boe.id)
    assert isinstance(await authenticate(boe, "a@boe.test", GOOD_PASSWORD, IP), AgentInfo)
    entries = (await list_entries(boe.id)).entries
    disable = next(e for e in entries if e.action == "agents.disable")
    assert (disable.agent_id, disable.client_ip, disable.target) == (admin.id, IP, "a@boe.test")
    assert (disable.before, disable.after) == ({"disabled": False}, {"disabled": True})


async def test_superviseur_is_valid_in_every_commune(
    communes: dict[str, CommuneContext], mailer: Mailer
) -> None:
    boe, aure = communes["boe"], communes["aure"]
    chef = await make_agent(None, mailer, "chef@portail.test", "superviseur", link_commune=aure)
    assert chef.is_superviseur and chef.commune_id is None
    assert (await last_link_to("chef@portail.test")).startswith("/aure/gestion/mot-de-passe/")
    for commune in (boe, aure):
        signed = await authenticate(commune, "chef@portail.test", GOOD_PASSWORD, IP)
        assert isinstance(signed, AgentInfo)
    secret = await open_agent_session(chef.id, chef.auth_version)
    assert await agent_from_session(secret, boe.id) is not None
    assert await agent_from_session(secret, aure.id) is not None
    # A superviseur invites agents anywhere; an administrator only in their commune.
    invited = await invite_agent(chef, boe, "new@boe.test", "lecteur", "", mailer, IP)
    assert invited.commune_id == boe.id
    admin = await make_agent(boe, mailer, "admin@boe.test", "administrateur")
    with pytest.raises(NotAllowed):
        await invite_agent(admin, aure, "x@aure.test", "lecteur", "", mailer)
    with pytest.raises(NotAllowed):
        await disable_agent(admin, chef.id, boe.id)  # a superviseur only by a superviseur


async def test_auth_version_bump_and_expiry_end_sessions(
    communes: dict[str, CommuneContext], mailer: Mailer
) -> None:
    boe = communes["boe"]
    agent = await make_agent(boe, mailer, "a@boe.test", "lecteur")
    first = await open_agent_session(agent.id, agent.auth_version)
    second = await open_agent_session(agent.id, agent.auth_version)
    assert first != second
    # A new password (from a new link) ends every session.
    await create_agent(
        communes["aure"], "other@aure.test", "lecteur", "", mailer, Actor.command_line()
    )
    admin = await make_agent(boe, mailer, "admin@boe.test", "administrateur")
    await agents.send_password_link(admin, agent.id, boe, mailer)
    secret = (await last_link_to("a@boe.test")).rsplit("/", 1)[1]
    await set_password(boe, secret, "une autre phrase de passe", "une autre phrase de passe")
    assert await agent_from_session(first, boe.id) is None
    assert await agent_from_session(second, boe.id) is None
    fresh = await get_agent(agent.id)
    assert fresh is not None and fresh.auth_version == agent.auth_version + 1

    # Idle for 8 hours, or open for 12, a session is over.
    idle = await open_agent_session(agent.id, fresh.auth_version)
    old = dt.datetime.now(dt.UTC) - sessions.SESSION_IDLE
    await AgentSession.update({AgentSession.last_seen_at: old}, force=True)
    assert await agent_from_session(idle, boe.id) is None
    late = await open_agent_session(agent.id, fresh.auth_version)
    await AgentSession.update(
        {AgentSession.expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}, force=True
    )
    assert await agent_from_session(late, boe.id) is None
    await sessions.purge_expired_agent_sessions()
    assert await AgentSession.count() == 0
