"""The journal: who did what in the back office, when, from where. Append-only.

This module offers only `record()` (inside the caller's transaction, so the entry is committed
with the change it describes) and `list_entries()`. Nothing in the application updates or
deletes an entry; on PostgreSQL a trigger refuses it as well.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from piccolo.columns.combination import WhereRaw

from core.backoffice.tables import JournalEntry
from core.clock import now
from core.i18n import t
from core.web.formatting import TIMEZONE

ACTION_MAX_LENGTH = 100
ACTOR_MAX_LENGTH = 300
CLIENT_IP_MAX_LENGTH = 64
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class Actor:
    """Who acts: an agent (id and label), the API (a key's label) or the command line."""

    agent_id: int | None
    label: str
    client_ip: str = ""

    @classmethod
    def command_line(cls) -> Actor:
        return cls(agent_id=None, label=t("backoffice.journal.command_line"))

    @classmethod
    def api(cls, key_label: str, client_ip: str = "") -> Actor:
        return cls(
            agent_id=None,
            label=t("backoffice.journal.api_key", label=key_label),
            client_ip=client_ip,
        )


@dataclass(frozen=True)
class Entry:
    id: int
    at: dt.datetime
    commune_id: int | None
    agent_id: int | None
    actor_label: str
    action: str
    target: str
    before: Any
    after: Any
    client_ip: str


@dataclass(frozen=True)
class JournalFilters:
    """Every given criterion must hold; days are Paris days, both ends included."""

    agent_id: int | None = None
    action_prefix: str = ""
    from_day: dt.date | None = None
    to_day: dt.date | None = None


@dataclass(frozen=True)
class JournalPage:
    entries: list[Entry] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 50

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def to_json(value: Any) -> str | None:
    """Stable JSON for `before`/`after` (sorted keys, French text kept readable)."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


async def record(
    action: str,
    actor: Actor,
    *,
    commune_id: int | None,
    target: str = "",
    before: Any = None,
    after: Any = None,
) -> None:
    """Append one entry; call it inside the transaction of the change it describes."""
    if not action or len(action) > ACTION_MAX_LENGTH:
        raise ValueError(f"journal action must be 1 to {ACTION_MAX_LENGTH} characters: {action!r}")
    await JournalEntry.insert(
        JournalEntry(
            at=now(),
            commune=commune_id,
            agent=actor.agent_id,
            actor_label=actor.label[:ACTOR_MAX_LENGTH],
            action=action,
            target=target,
            before=to_json(before),
            after=to_json(after),
            client_ip=actor.client_ip[:CLIENT_IP_MAX_LENGTH],
        )
    )


async def list_entries(
    commune_id: int | None,
    filters: JournalFilters | None = None,
    page: int = 1,
    per_page: int = 50,
) -> JournalPage:
    """One page of a commune's entries, newest first (`commune_id=None`: every entry, for a
    superviseur). `page` starts at 1; `per_page` is capped at `MAX_PER_PAGE`."""
    filters = filters or JournalFilters()
    page = max(1, page)
    per_page = min(max(1, per_page), MAX_PER_PAGE)
    where = _where(commune_id, filters)
    count = JournalEntry.count()
    query = JournalEntry.select().order_by(JournalEntry.at, ascending=False)
    query = query.order_by(JournalEntry.id, ascending=False)
    if where is not None:
        count = count.where(where)
        query = query.where(where)
    total = await count
    rows = await query.limit(per_page).offset((page - 1) * per_page)
    return JournalPage(
        entries=[_entry(row) for row in rows], total=total, page=page, per_page=per_page
    )


def _where(commune_id: int | None, filters: JournalFilters) -> Any:
    conditions: list[Any] = []
    if commune_id is not None:
        conditions.append(JournalEntry.commune == commune_id)
    if filters.agent_id is not None:
        conditions.append(JournalEntry.agent == filters.agent_id)
    if filters.action_prefix:
        # Exact on both engines (LIKE would read "_" as a wildcard and ignore case on SQLite).
        prefix = filters.action_prefix
        conditions.append(WhereRaw("substr(action, 1, {}) = {}", len(prefix), prefix))
    if filters.from_day is not None:
        conditions.append(JournalEntry.at >= _day_start(filters.from_day))
    if filters.to_day is not None:
        conditions.append(JournalEntry.at < _day_start(filters.to_day + dt.timedelta(days=1)))
    where = None
    for condition in conditions:
        where = condition if where is None else where & condition
    return where


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=TIMEZONE).astimezone(dt.UTC)


def _entry(row: dict[str, Any]) -> Entry:
    return Entry(
        id=row["id"],
        at=row["at"],
        commune_id=row["commune"],
        agent_id=row["agent"],
        actor_label=row["actor_label"],
        action=row["action"],
        target=row["target"],
        before=json.loads(row["before"]) if row["before"] else None,
        after=json.loads(row["after"]) if row["after"] else None,
        client_ip=row["client_ip"],
    )
