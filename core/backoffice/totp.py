"""The second factor: TOTP (RFC 6238, as authenticator apps do it) and single-use recovery codes.

Enrolment: `begin_enrolment()` stores a new secret (pending), the page shows `qr_svg()` of
`provisioning_uri()`; `confirm_enrolment()` checks a first code, enables TOTP and returns ten
recovery codes, shown once and stored hashed. At login, `verify_second_factor()` accepts the
current code (one step of clock drift either way) once only, or an unused recovery code.
Attempts are rate-limited per agent. The secret is never logged nor returned by `AgentInfo`.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from typing import Any

import pyotp
import segno

from core.backoffice import journal
from core.backoffice.identity import AgentInfo, NotAllowed, managed_agent
from core.backoffice.sessions import SignedInAgent, bump_auth_version, rotate_after_second_factor
from core.backoffice.tables import Agent, AgentRecoveryCode
from core.clock import now
from core.communes.context import CommuneContext
from core.db import transaction
from core.i18n import t
from core.security import throttle
from core.security.tokens import digest
from core.web.forms import Problems

RECOVERY_CODES = 10
RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
RECOVERY_GROUPS = 3
RECOVERY_GROUP_LENGTH = 4
VALID_WINDOW = 1
"""Steps of clock drift accepted on either side of the current one."""
CODE_ATTEMPTS = throttle.Limit("agent-totp", max_hits=10, window_seconds=15 * 60)


class SecondFactorRateLimited(Exception):
    def __init__(self) -> None:
        super().__init__(t("backoffice.totp.rate_limited"))


def new_totp_secret() -> str:
    """A new random base32 secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, agent: AgentInfo, commune: CommuneContext | None) -> str:
    """The `otpauth://` URI the authenticator app scans: the agent's address, the portal (and
    commune) as issuer."""
    issuer = (
        t("backoffice.totp.issuer", commune=commune.name)
        if commune
        else t("backoffice.totp.issuer_portal")
    )
    return pyotp.TOTP(secret).provisioning_uri(name=agent.email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline `<svg>` element (no XML declaration), to embed in a
    page; its title names it for screen readers."""
    qr = segno.make(uri, error="m")
    svg: str = qr.svg_inline(scale=4, border=2, title=t("backoffice.totp.qr_title"))
    return svg


async def begin_enrolment(agent_id: int) -> str:
    """Store a new pending secret for an agent whose TOTP is not enabled; returns it for the
    page (QR code and text form). Raises `NotAllowed` when TOTP is already enabled."""
    secret = new_totp_secret()
    async with transaction():
        rows = (
            await Agent.update({Agent.totp_secret: secret, Agent.totp_last_step: None})
            .where((Agent.id == agent_id) & (Agent.totp_enabled.eq(False)))
            .returning(Agent.id)
        )
    if not rows:
        raise NotAllowed
    return secret


async def confirm_enrolment(agent: AgentInfo, code: str, client_ip: str = "") -> list[str]:
    """Enable TOTP once the agent typed a valid code from the app; returns the recovery codes
    (shown once; earlier ones are replaced). Raises `Problems` or `SecondFactorRateLimited`."""
    await _throttle(agent.id)
    row = await _totp_row(agent.id)
    if row is None or row["totp_enabled"] or not row["totp_secret"]:
        raise NotAllowed
    step = _matching_step(row["totp_secret"], code)
    if step is None:
        raise _code_problem()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    async with transaction():
        updated = (
            await Agent.update({Agent.totp_enabled: True, Agent.totp_last_step: step})
            .where((Agent.id == agent.id) & (Agent.totp_enabled.eq(False)))
            .returning(Agent.id)
        )
        if not updated:
            raise NotAllowed
        await _replace_recovery_codes(agent.id, codes)
        await journal.record(
            "agents.totp_enable",
            agent.actor(client_ip),
            commune_id=agent.commune_id,
            target=agent.email,
        )
    await throttle.reset(str(agent.id), CODE_ATTEMPTS)
    return codes


async def verify_second_factor(agent: AgentInfo, code: str, *, at: float | None = None) -> bool:
    """Whether `code` is the agent's current TOTP code, not used before, or one of its unused
    recovery codes (then used up). Raises `SecondFactorRateLimited`."""
    await _throttle(agent.id)
    row = await _totp_row(agent.id)
    if row is None or not row["totp_enabled"] or not row["totp_secret"]:
        return False
    step = _matching_step(row["totp_secret"], code, at=at)
    if step is not None:
        async with transaction():
            # Atomic: of two requests with the same code, only one moves the step forward.
            accepted = (
                await Agent.update({Agent.totp_last_step: step})
                .where(
                    (Agent.id == agent.id)
                    & (Agent.totp_last_step.is_null() | (Agent.totp_last_step < step))
                )
                .returning(Agent.id)
            )
        if accepted:
            await throttle.reset(str(agent.id), CODE_ATTEMPTS)
        return bool(accepted)
    normalised = _normalise_recovery_code(code)
    if len(normalised) != RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH:
        return False
    async with transaction():
        used = (
            await AgentRecoveryCode.update({AgentRecoveryCode.used_at: now()})
            .where(
                (AgentRecoveryCode.agent == agent.id)
                & (AgentRecoveryCode.code_hash == digest(normalised))
                & AgentRecoveryCode.used_at.is_null()
            )
            .returning(AgentRecoveryCode.id)
        )
        if used:
            await journal.record(
                "agents.recovery_code_used",
                agent.actor(),
                commune_id=agent.commune_id,
                target=agent.email,
            )
    if used:
        await throttle.reset(str(agent.id), CODE_ATTEMPTS)
    return bool(used)


async def complete_second_factor(session: SignedInAgent, code: str) -> str | None:
    """Check `code` for the session's agent and, when it is right, replace the session by a
    complete one: returns the new cookie's secret (None for a wrong code). Raises
    `SecondFactorRateLimited`."""
    if not await verify_second_factor(session.agent, code):
        return None
    return await rotate_after_second_factor(session)


async def remaining_recovery_codes(agent_id: int) -> int:
    return await AgentRecoveryCode.count().where(
        (AgentRecoveryCode.agent == agent_id) & AgentRecoveryCode.used_at.is_null()
    )


async def reset_totp(by: AgentInfo, agent_id: int, commune_id: int, client_ip: str = "") -> None:
    """An administrator removes an agent's second factor (a lost phone); the agent enrols again.
    Every session of the agent ends. Raises `NotAllowed`."""
    target = await managed_agent(by, agent_id, commune_id)
    async with transaction():
        await Agent.update(
            {Agent.totp_enabled: False, Agent.totp_secret: None, Agent.totp_last_step: None}
        ).where(Agent.id == agent_id)
        await AgentRecoveryCode.delete().where(AgentRecoveryCode.agent == agent_id)
        await bump_auth_version(agent_id)
        await journal.record(
            "agents.totp_reset", by.actor(client_ip), commune_id=commune_id, target=target.email
        )


# --- Helpers -------------------------------------------------------------------------------


def _matching_step(secret: str, code: str, *, at: float | None = None) -> int | None:
    """The time step whose code is `code`, within `VALID_WINDOW` of now; None if none."""
    digits = "".join(code.split())
    totp = pyotp.TOTP(secret)
    if len(digits) != totp.digits or not digits.isdigit():
        return None
    instant = dt.datetime.fromtimestamp(time.time() if at is None else at, tz=dt.UTC)
    current = totp.timecode(instant)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def _new_recovery_code() -> str:
    groups = (
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LENGTH))
        for _ in range(RECOVERY_GROUPS)
    )
    return "-".join(groups)


def _normalise_recovery_code(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


async def _replace_recovery_codes(agent_id: int, codes: list[str]) -> None:
    await AgentRecoveryCode.delete().where(AgentRecoveryCode.agent == agent_id)
    await AgentRecoveryCode.insert(
        *[
            AgentRecoveryCode(agent=agent_id, code_hash=digest(_normalise_recovery_code(code)))
            for code in codes
        ]
    )


async def _totp_row(agent_id: int) -> dict[str, Any] | None:
    return (
        await Agent.select(Agent.totp_secret, Agent.totp_enabled)
        .where(Agent.id == agent_id)
        .first()
    )


async def _throttle(agent_id: int) -> None:
    if not await throttle.hit(str(agent_id), CODE_ATTEMPTS):
        raise SecondFactorRateLimited


def _code_problem() -> Problems:
    problems = Problems()
    problems.add("code", t("backoffice.totp.code_invalid"))
    return problems
