"""The second factor: enrolment, codes from an authenticator app, replay, recovery codes."""

from __future__ import annotations

import time

import pyotp
import pytest

from core.backoffice import totp
from core.backoffice.identity import AgentInfo, NotAllowed, get_agent
from core.backoffice.sessions import (
    agent_from_session,
    open_agent_session,
    rotate_after_second_factor,
)
from core.backoffice.tables import Agent, AgentRecoveryCode
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.web.forms import Problems
from tests.integration.backoffice.conftest import make_agent


@pytest.fixture
async def agent(communes: dict[str, CommuneContext], mailer: Mailer) -> AgentInfo:
    return await make_agent(communes["boe"], mailer, "a@boe.test", "gestionnaire")


async def enrol(agent: AgentInfo) -> tuple[str, list[str], AgentInfo]:
    secret = await totp.begin_enrolment(agent.id)
    codes = await totp.confirm_enrolment(agent, pyotp.TOTP(secret).now())
    fresh = await get_agent(agent.id)
    assert fresh is not None
    return secret, codes, fresh


async def test_enrolment(agent: AgentInfo, communes: dict[str, CommuneContext]) -> None:
    secret = await totp.begin_enrolment(agent.id)
    uri = totp.provisioning_uri(secret, agent, communes["boe"])
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert "a%40boe.test" in uri and "Bo%C3%A9" in uri
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "<title>" in svg

    with pytest.raises(Problems):
        await totp.confirm_enrolment(
            agent, "000000" if pyotp.TOTP(secret).now() != "000000" else "1"
        )
    codes = await totp.confirm_enrolment(agent, pyotp.TOTP(secret).now())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code) == 14 for code in codes)  # XXXX-XXXX-XXXX
    stored = {row["code_hash"] for row in await AgentRecoveryCode.select()}
    assert not stored & set(codes)  # hashed
    fresh = await get_agent(agent.id)
    assert fresh is not None and fresh.totp_enabled
    with pytest.raises(NotAllowed):  # enrolling again needs a reset first
        await totp.begin_enrolment(agent.id)


async def test_code_accepted_once_and_session_completed(agent: AgentInfo) -> None:
    secret, _, agent = await enrol(agent)
    session_secret = await open_agent_session(agent.id, agent.auth_version)
    session = await agent_from_session(session_secret, agent.commune_id or 0)
    assert session is not None and not session.full

    later = time.time() + 60  # two steps after the enrolment's code
    code = pyotp.TOTP(secret).at(later)
    assert await totp.verify_second_factor(agent, code, at=later)
    assert not await totp.verify_second_factor(agent, code, at=later)  # replay refused
    previous = pyotp.TOTP(secret).at(later - 30)
    assert not await totp.verify_second_factor(agent, previous, at=later)  # an older step too
    assert not await totp.verify_second_factor(agent, "12345", at=later)

    assert await totp.complete_second_factor(session, code) is None  # the used code again
    new_secret = await rotate_after_second_factor(session)
    assert new_secret != session_secret
    assert await agent_from_session(session_secret, agent.commune_id or 0) is None
    complete = await agent_from_session(new_secret, agent.commune_id or 0)
    assert complete is not None and complete.full


async def test_clock_drift_of_one_step(agent: AgentInfo) -> None:
    secret, _, agent = await enrol(agent)
    later = time.time() + 300
    assert await totp.verify_second_factor(agent, pyotp.TOTP(secret).at(later + 30), at=later)
    assert not await totp.verify_second_factor(agent, pyotp.TOTP(secret).at(later + 90), at=later)


async def test_recovery_code_works_once(agent: AgentInfo) -> None:
    _, codes, agent = await enrol(agent)
    session_secret = await open_agent_session(agent.id, agent.auth_version)
    session = await agent_from_session(session_secret, agent.commune_id or 0)
    assert session is not None
    assert await totp.complete_second_factor(session, "AAAA-BBBB-CCCC") is None
    completed = await totp.complete_second_factor(session, codes[1])
    assert completed is not None
    full = await agent_from_session(completed, agent.commune_id or 0)
    assert full is not None and full.full
    assert await totp.verify_second_factor(agent, codes[0].lower().replace("-", " "))
    assert not await totp.verify_second_factor(agent, codes[0])
    assert await totp.remaining_recovery_codes(agent.id) == 8


async def test_attempts_are_rate_limited(agent: AgentInfo) -> None:
    secret, _, agent = await enrol(agent)
    for _ in range(totp.CODE_ATTEMPTS.max_hits):
        assert not await totp.verify_second_factor(agent, "AAAA-BBBB-CCCC")
    with pytest.raises(totp.SecondFactorRateLimited):
        await totp.verify_second_factor(agent, pyotp.TOTP(secret).at(time.time() + 60))


async def test_reset_by_an_administrator(
    agent: AgentInfo, communes: dict[str, CommuneContext], mailer: Mailer
) -> None:
    boe = communes["boe"]
    _, _, agent = await enrol(agent)
    admin = await make_agent(boe, mailer, "admin@boe.test", "administrateur")
    with pytest.raises(NotAllowed):
        await totp.reset_totp(agent, admin.id, boe.id)
    await totp.reset_totp(admin, agent.id, boe.id)
    row = await Agent.select(Agent.totp_enabled, Agent.totp_secret).where(Agent.id == agent.id)
    assert row == [{"totp_enabled": False, "totp_secret": None}]
    assert await AgentRecoveryCode.count() == 0
