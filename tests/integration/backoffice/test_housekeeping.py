"""The app's hourly housekeeping forgets agents' sessions that are over, and keeps the others."""

from __future__ import annotations

import datetime as dt

from core.app import housekeeping_round
from core.backoffice.sessions import SESSION_IDLE, agent_from_session, open_agent_session
from core.backoffice.tables import GESTIONNAIRE, AgentSession
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.settings import Settings
from tests.integration.backoffice.conftest import make_agent


async def test_housekeeping_purges_expired_agent_sessions(
    communes: dict[str, CommuneContext], mailer: Mailer, settings: Settings
) -> None:
    boe = communes["boe"]
    agent = await make_agent(boe, mailer, "gestion@boe.test", GESTIONNAIRE)
    kept = await open_agent_session(agent.id, agent.auth_version)
    idle = await open_agent_session(agent.id, agent.auth_version)
    late = await open_agent_session(agent.id, agent.auth_version)
    instant = dt.datetime.now(dt.UTC)
    rows = await AgentSession.select(AgentSession.id).order_by(AgentSession.id)
    await AgentSession.update({AgentSession.last_seen_at: instant - SESSION_IDLE}).where(
        AgentSession.id == rows[1]["id"]
    )
    await AgentSession.update({AgentSession.expires_at: instant - dt.timedelta(seconds=1)}).where(
        AgentSession.id == rows[2]["id"]
    )
    await housekeeping_round(settings)
    assert await AgentSession.count() == 1
    assert await agent_from_session(kept, boe.id) is not None
    assert await agent_from_session(idle, boe.id) is None
    assert await agent_from_session(late, boe.id) is None
