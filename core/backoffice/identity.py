"""Who an agent is, as the other back-office modules see it: `AgentInfo`, read from the `agent`
table without its secrets (password hash, TOTP secret), and who may manage whom."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.backoffice.journal import Actor
from core.backoffice.roles import can
from core.backoffice.tables import Agent
from core.i18n import t


@dataclass(frozen=True)
class AgentInfo:
    """An agent as services and pages see it (never the password hash or the TOTP secret)."""

    id: int
    commune_id: int | None
    email: str
    display_name: str
    role: str
    auth_version: int
    totp_enabled: bool
    disabled_at: dt.datetime | None
    has_password: bool
    last_login_at: dt.datetime | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def is_superviseur(self) -> bool:
        return self.commune_id is None

    @property
    def label(self) -> str:
        """How the journal names the agent."""
        return t("backoffice.journal.agent", name=self.display_name or self.email, email=self.email)

    def actor(self, client_ip: str = "") -> Actor:
        return Actor(agent_id=self.id, label=self.label, client_ip=client_ip)

    def works_in(self, commune_id: int) -> bool:
        """Whether the agent may act in `commune_id` (a superviseur may act in every one)."""
        return self.commune_id is None or self.commune_id == commune_id


class NotAllowed(Exception):
    """The acting agent may not do this (role, commune, or acting on oneself)."""

    def __init__(self) -> None:
        super().__init__(t("backoffice.agents.not_allowed"))


INFO_COLUMNS = (
    Agent.id,
    Agent.commune,
    Agent.email,
    Agent.display_name,
    Agent.role,
    Agent.auth_version,
    Agent.totp_enabled,
    Agent.disabled_at,
    Agent.last_login_at,
)


async def get_agent(agent_id: int) -> AgentInfo | None:
    row = await Agent.select(*INFO_COLUMNS, Agent.password_hash).where(Agent.id == agent_id).first()
    return agent_info(row) if row is not None else None


async def list_agents(commune_id: int) -> list[AgentInfo]:
    """A commune's agents (not the superviseurs), by name then address."""
    rows = (
        await Agent.select(*INFO_COLUMNS, Agent.password_hash)
        .where(Agent.commune == commune_id)
        .order_by(Agent.display_name)
        .order_by(Agent.email)
    )
    return [agent_info(row) for row in rows]


def agent_info(row: dict[str, Any]) -> AgentInfo:
    return AgentInfo(
        id=row["id"],
        commune_id=row["commune"],
        email=row["email"],
        display_name=row["display_name"],
        role=row["role"],
        auth_version=row["auth_version"],
        totp_enabled=bool(row["totp_enabled"]),
        disabled_at=row["disabled_at"],
        has_password=bool(row["password_hash"]),
        last_login_at=row["last_login_at"],
    )


async def managed_agent(by: AgentInfo, agent_id: int, commune_id: int) -> AgentInfo:
    """The agent `by` may manage in `commune_id`: never oneself, and a superviseur only by a
    superviseur."""
    target = await get_agent(agent_id)
    if (
        target is None
        or target.id == by.id
        or not (can(by, "agents.manage") and by.works_in(commune_id))
        or not (target.commune_id == commune_id or (target.is_superviseur and by.is_superviseur))
    ):
        raise NotAllowed
    return target
