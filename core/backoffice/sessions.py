"""Agents' server-side sessions: the cookie holds a random secret, `agent_session` its hash.

A login always opens a new session; giving the second factor replaces it by a complete one;
logout deletes the row; bumping `agent.auth_version` ends every session of the agent. A session
ends after `SESSION_IDLE` without use and `SESSION_ABSOLUTE` after it opened, whatever happens.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from litestar.datastructures import Cookie

from core.backoffice.identity import AgentInfo, get_agent
from core.backoffice.tables import Agent, AgentSession
from core.clock import now
from core.db import transaction
from core.security.tokens import digest, new_secret

SESSION_IDLE = dt.timedelta(hours=8)
"""A session unused this long is over."""
SESSION_ABSOLUTE = dt.timedelta(hours=12)
"""No session lasts longer than this, used or not."""
SESSION_TOUCH_EVERY = dt.timedelta(minutes=1)
"""`last_seen_at` is written at most this often (not on every request)."""
COOKIE_NAME = "portail_gestion"


@dataclass(frozen=True)
class SignedInAgent:
    """The agent behind a valid session cookie, and whether the session is complete."""

    agent: AgentInfo
    session_hash: str
    totp_verified: bool

    @property
    def full(self) -> bool:
        """False while an agent whose TOTP is enabled has not given the second factor."""
        return self.totp_verified or not self.agent.totp_enabled


async def open_agent_session(
    agent_id: int, auth_version: int, *, totp_verified: bool = False
) -> str:
    """A new session (after a login: never reuse an id); returns the secret for the cookie."""
    secret = new_secret()
    created = now()
    async with transaction():
        await AgentSession.insert(
            AgentSession(
                agent=agent_id,
                secret_hash=digest(secret),
                auth_version=auth_version,
                created_at=created,
                expires_at=created + SESSION_ABSOLUTE,
                last_seen_at=created,
                totp_verified=totp_verified,
            )
        )
    return secret


async def agent_from_session(secret: str | None, commune_id: int) -> SignedInAgent | None:
    """The agent behind `secret` if the session is valid in `commune_id`: the agent's commune
    (a superviseur's valid in every one), not disabled, same auth version, neither idle for
    `SESSION_IDLE` nor older than `SESSION_ABSOLUTE`. Check `full` before anything but the
    second-factor page."""
    if not secret or len(secret) > 100:
        return None
    session = (
        await AgentSession.select(
            AgentSession.agent,
            AgentSession.secret_hash,
            AgentSession.auth_version,
            AgentSession.expires_at,
            AgentSession.last_seen_at,
            AgentSession.totp_verified,
        )
        .where(AgentSession.secret_hash == digest(secret))
        .first()
    )
    if session is None:
        return None
    agent = await get_agent(session["agent"])
    instant = now()
    if (
        agent is None
        or agent.disabled
        or not agent.works_in(commune_id)
        or session["auth_version"] != agent.auth_version
        or session["expires_at"] <= instant
        or session["last_seen_at"] + SESSION_IDLE <= instant
    ):
        return None
    if session["last_seen_at"] + SESSION_TOUCH_EVERY <= instant:
        async with transaction():
            await AgentSession.update({AgentSession.last_seen_at: instant}).where(
                AgentSession.secret_hash == session["secret_hash"]
            )
    return SignedInAgent(
        agent=agent, session_hash=session["secret_hash"], totp_verified=session["totp_verified"]
    )


async def rotate_after_second_factor(session: SignedInAgent) -> str:
    """Replace a session whose second factor was just given by a complete one (new secret,
    same absolute end); returns the new cookie's secret."""
    secret = new_secret()
    instant = now()
    async with transaction():
        rows = (
            await AgentSession.delete()
            .where(AgentSession.secret_hash == session.session_hash)
            .returning(AgentSession.created_at, AgentSession.expires_at, AgentSession.auth_version)
        )
        if not rows:
            raise LookupError("the session ended meanwhile")
        await AgentSession.insert(
            AgentSession(
                agent=session.agent.id,
                secret_hash=digest(secret),
                auth_version=rows[0]["auth_version"],
                created_at=rows[0]["created_at"],
                expires_at=rows[0]["expires_at"],
                last_seen_at=instant,
                totp_verified=True,
            )
        )
    return secret


async def end_agent_session(session_hash: str) -> None:
    """Log out: the session's row is deleted."""
    async with transaction():
        await AgentSession.delete().where(AgentSession.secret_hash == session_hash)


async def bump_auth_version(agent_id: int) -> int:
    """End every session of the agent (in the caller's transaction); the new version."""
    rows = (
        await Agent.update({Agent.auth_version: Agent.auth_version + 1})
        .where(Agent.id == agent_id)
        .returning(Agent.auth_version)
    )
    await AgentSession.delete().where(AgentSession.agent == agent_id)
    return int(rows[0]["auth_version"])


async def purge_expired_agent_sessions() -> None:
    cutoff = now()
    async with transaction():
        await AgentSession.delete().where(
            (AgentSession.expires_at <= cutoff)
            | (AgentSession.last_seen_at <= cutoff - SESSION_IDLE)
        )


def agent_session_cookie(root: str, secret: str, *, secure: bool) -> Cookie:
    """The back office's cookie, for `<root>gestion/` only, ending with the browser."""
    return Cookie(
        key=COOKIE_NAME,
        value=secret,
        path=f"{root}gestion/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
