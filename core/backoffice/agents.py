"""Agents: creation and invitation, their password, login, and withdrawing access.

Agents are their own table, never a parent's account, with the same care as parents' accounts:
single-use expiring 256-bit link tokens of which only the SHA-256 is stored, Argon2id in worker
threads, a new session id at every login, rate-limited logins, and `auth_version` bumped on a
password change or a withdrawal to end every session. Every write is one transaction, and every
change an agent makes is journalled in it.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from core.backoffice import journal
from core.backoffice.identity import (
    INFO_COLUMNS,
    AgentInfo,
    NotAllowed,
    agent_info,
    get_agent,
    managed_agent,
)
from core.backoffice.journal import Actor
from core.backoffice.roles import can
from core.backoffice.sessions import bump_auth_version
from core.backoffice.tables import (
    ADMINISTRATEUR,
    GESTIONNAIRE,
    LECTEUR,
    SUPERVISEUR,
    Agent,
    AgentToken,
)
from core.clock import now
from core.communes.context import CommuneContext
from core.db import transaction
from core.i18n import t
from core.mail.addresses import normalise_email
from core.mail.mailer import Mailer
from core.security import throttle
from core.security.passwords import (
    burn_password_check,
    hash_password,
    password_problems,
    verify_password,
)
from core.security.tokens import digest, new_secret
from core.web.forms import Problems

SET_PASSWORD = "set_password"  # noqa: S105 -- a token purpose, not a password
SET_PASSWORD_TTL = dt.timedelta(hours=72)
DISPLAY_NAME_MAX_LENGTH = 200
COMMUNE_ROLES = (ADMINISTRATEUR, GESTIONNAIRE, LECTEUR)
"""Roles an agent of a commune may have; superviseurs are created from the command line."""

# Same limits and windows as parents' login (core.accounts.services), in buckets of their own.
LOGIN_PER_ADDRESS = throttle.Limit("agent-login-address", max_hits=10, window_seconds=15 * 60)
LOGIN_PER_IP = throttle.Limit("agent-login-ip", max_hits=60, window_seconds=15 * 60)


class LoginFailure(enum.Enum):
    """Why a login failed; `message` is what the agent reads (never which part was wrong)."""

    RATE_LIMITED = "rate_limited"
    BAD_CREDENTIALS = "bad_credentials"

    @property
    def message(self) -> str:
        return t(f"backoffice.login.{self.value}")


# --- Creation and invitation ---------------------------------------------------------------


async def create_agent(
    commune: CommuneContext | None,
    email: str,
    role: str,
    display_name: str,
    mailer: Mailer,
    actor: Actor,
    *,
    link_commune: CommuneContext | None = None,
) -> AgentInfo:
    """Create an agent of `commune` (None: a superviseur, whose role must be "superviseur")
    and e-mail a link to set the password (valid 72 hours, single use). The link goes to
    `commune`'s back office, or `link_commune`'s for a superviseur. Raises `Problems`."""
    address = normalise_email(email)
    problems = Problems()
    if not address:
        problems.add("email", t("backoffice.agents.email_invalid"))
    allowed_roles = (SUPERVISEUR,) if commune is None else COMMUNE_ROLES
    if role not in allowed_roles:
        problems.add("role", t("backoffice.agents.role_invalid"))
    name = " ".join(display_name.split())
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        problems.add(
            "display_name", t("backoffice.agents.name_too_long", max=DISPLAY_NAME_MAX_LENGTH)
        )
    if problems.errors:
        raise problems
    site = commune or link_commune
    if site is None:
        raise ValueError("a superviseur's invitation needs a commune for its link")
    commune_id = commune.id if commune is not None else None
    async with transaction():
        if await _address_taken(commune_id, address):
            raise _problem("email", t("backoffice.agents.email_taken"))
        rows = await Agent.insert(
            Agent(
                commune=commune_id,
                email=address,
                display_name=name,
                role=role,
                created_at=now(),
            )
        ).returning(Agent.id)
        agent_id = int(rows[0]["id"])
        await _send_password_link(agent_id, address, name, role, site, mailer)
        await journal.record(
            "agents.create",
            actor,
            commune_id=commune_id,
            target=address,
            after={"email": address, "role": role, "display_name": name},
        )
    agent = await get_agent(agent_id)
    assert agent is not None  # noqa: S101 -- inserted just above
    return agent


async def invite_agent(
    by: AgentInfo,
    commune: CommuneContext,
    email: str,
    role: str,
    display_name: str,
    mailer: Mailer,
    client_ip: str = "",
) -> AgentInfo:
    """An administrator (or superviseur) adds an agent to `commune`: as `create_agent`, after
    checking the permission. Raises `NotAllowed` or `Problems`."""
    if not (can(by, "agents.manage") and by.works_in(commune.id)):
        raise NotAllowed
    return await create_agent(commune, email, role, display_name, mailer, by.actor(client_ip))


async def send_password_link(
    by: AgentInfo, agent_id: int, commune: CommuneContext, mailer: Mailer, client_ip: str = ""
) -> None:
    """Send an agent a new link to set the password (a lost invitation, a forgotten password);
    earlier links stop working. Raises `NotAllowed`."""
    target = await managed_agent(by, agent_id, commune.id)
    async with transaction():
        await _retire_tokens(agent_id)
        await _send_password_link(
            agent_id, target.email, target.display_name, target.role, commune, mailer
        )
        await journal.record(
            "agents.password_link",
            by.actor(client_ip),
            commune_id=commune.id,
            target=target.email,
        )


async def _send_password_link(
    agent_id: int,
    email: str,
    display_name: str,
    role: str,
    commune: CommuneContext,
    mailer: Mailer,
) -> None:
    secret = new_secret()
    created = now()
    await AgentToken.insert(
        AgentToken(
            agent=agent_id,
            purpose=SET_PASSWORD,
            token_hash=digest(secret),
            created_at=created,
            expires_at=created + SET_PASSWORD_TTL,
        )
    )
    await mailer.send(
        commune,
        "agent_invitation",
        email,
        link=mailer.link(commune, f"gestion/mot-de-passe/{secret}"),
        display_name=display_name,
        role_label=t(f"backoffice.roles.{role}"),
        superviseur=role == SUPERVISEUR,
        valid_hours=int(SET_PASSWORD_TTL.total_seconds() // 3600),
        expires_at=created + SET_PASSWORD_TTL,
    )


# --- Password ------------------------------------------------------------------------------


async def valid_password_token(commune: CommuneContext, secret: str) -> AgentInfo | None:
    """The agent behind an unused, unexpired set-password link of `commune`'s back office."""
    if not secret or len(secret) > 100:
        return None
    row = (
        await AgentToken.select(AgentToken.agent, AgentToken.expires_at, AgentToken.used_at)
        .where((AgentToken.token_hash == digest(secret)) & (AgentToken.purpose == SET_PASSWORD))
        .first()
    )
    if row is None or row["used_at"] is not None or row["expires_at"] <= now():
        return None
    agent = await get_agent(row["agent"])
    if agent is None or agent.disabled or not agent.works_in(commune.id):
        return None
    return agent


async def set_password(
    commune: CommuneContext, secret: str, password: str, confirmation: str
) -> AgentInfo:
    """Set the password from a link (single use): the parents' rules, the commune's minimum
    length; every session of the agent ends. Raises `Problems`."""
    agent = await valid_password_token(commune, secret)
    if agent is None:
        raise _problem("token", t("backoffice.agents.link_invalid"))
    messages = password_problems(
        password, confirmation, min_length=commune.config.password_min_length, email=agent.email
    )
    if messages:
        problems = Problems()
        for message in messages:
            problems.add("password", message)
        raise problems
    password_hash = await hash_password(password)
    async with transaction():
        used = (
            await AgentToken.update({AgentToken.used_at: now()})
            .where(
                (AgentToken.token_hash == digest(secret))
                & (AgentToken.purpose == SET_PASSWORD)
                & AgentToken.used_at.is_null()
            )
            .returning(AgentToken.id)
        )
        if not used:
            raise _problem("token", t("backoffice.agents.link_invalid"))
        await Agent.update({Agent.password_hash: password_hash}).where(Agent.id == agent.id)
        await _retire_tokens(agent.id)
        await bump_auth_version(agent.id)
        await journal.record(
            "agents.password_set",
            agent.actor(),
            commune_id=agent.commune_id if agent.commune_id is not None else commune.id,
            target=agent.email,
        )
    fresh = await get_agent(agent.id)
    assert fresh is not None  # noqa: S101 -- updated just above
    return fresh


async def _retire_tokens(agent_id: int) -> None:
    await AgentToken.update({AgentToken.used_at: now()}).where(
        (AgentToken.agent == agent_id)
        & (AgentToken.purpose == SET_PASSWORD)
        & AgentToken.used_at.is_null()
    )


# --- Login ---------------------------------------------------------------------------------


async def authenticate(
    commune: CommuneContext, email: str, password: str, client_ip: str
) -> AgentInfo | LoginFailure:
    """Check an agent's credentials for `commune`'s back office (a superviseur's work in every
    commune). Unknown, disabled or password-less agents cost a hash too; the caller opens a
    session (and asks for the second factor when `totp_enabled`)."""
    address = normalise_email(email)
    key = f"{commune.slug}:{address or email[:254]}"
    allowed = [
        await throttle.hit(key, LOGIN_PER_ADDRESS),
        await throttle.hit(client_ip, LOGIN_PER_IP),
    ]
    if not all(allowed):
        return LoginFailure.RATE_LIMITED
    row = await _agent_row_for_login(commune.id, address) if address else None
    if row is None or row["disabled_at"] is not None or not row["password_hash"]:
        await burn_password_check(password)
        return LoginFailure.BAD_CREDENTIALS
    ok, new_hash = await verify_password(row["password_hash"], password)
    if not ok:
        return LoginFailure.BAD_CREDENTIALS
    values: dict[Any, Any] = {Agent.last_login_at: now()}
    if new_hash:
        values[Agent.password_hash] = new_hash
    agent = agent_info(row)
    async with transaction():
        await Agent.update(values).where(Agent.id == agent.id)
        await journal.record(
            "agents.login", agent.actor(client_ip), commune_id=commune.id, target=agent.email
        )
    await throttle.reset(key, LOGIN_PER_ADDRESS)
    return agent


async def _agent_row_for_login(commune_id: int, address: str) -> dict[str, Any] | None:
    return (
        await Agent.select(*INFO_COLUMNS, Agent.password_hash)
        .where(((Agent.commune == commune_id) | Agent.commune.is_null()) & (Agent.email == address))
        .first()
    )


# --- Withdrawing access --------------------------------------------------------------------


async def disable_agent(
    by: AgentInfo, agent_id: int, commune_id: int, client_ip: str = ""
) -> AgentInfo:
    """Withdraw an agent's access (every session ends); raises `NotAllowed`."""
    return await _set_disabled(by, agent_id, commune_id, client_ip, disabled=True)


async def enable_agent(
    by: AgentInfo, agent_id: int, commune_id: int, client_ip: str = ""
) -> AgentInfo:
    """Give a disabled agent access again (with the same password); raises `NotAllowed`."""
    return await _set_disabled(by, agent_id, commune_id, client_ip, disabled=False)


async def _set_disabled(
    by: AgentInfo, agent_id: int, commune_id: int, client_ip: str, *, disabled: bool
) -> AgentInfo:
    target = await managed_agent(by, agent_id, commune_id)
    if target.disabled != disabled:
        async with transaction():
            await Agent.update({Agent.disabled_at: now() if disabled else None}).where(
                Agent.id == agent_id
            )
            if disabled:
                await bump_auth_version(agent_id)
            await journal.record(
                "agents.disable" if disabled else "agents.enable",
                by.actor(client_ip),
                commune_id=commune_id,
                target=target.email,
                before={"disabled": target.disabled},
                after={"disabled": disabled},
            )
    fresh = await get_agent(agent_id)
    assert fresh is not None  # noqa: S101 -- checked by managed_agent
    return fresh


async def _address_taken(commune_id: int | None, address: str) -> bool:
    """An address names one agent per commune, and a superviseur's names no other agent (so a
    login finds at most one)."""
    if commune_id is None:
        condition: Any = Agent.email == address
    else:
        condition = (Agent.email == address) & (
            (Agent.commune == commune_id) | Agent.commune.is_null()
        )
    return await Agent.exists().where(condition)


def _problem(name: str, message: str) -> Problems:
    problems = Problems()
    problems.add(name, message)
    return problems
