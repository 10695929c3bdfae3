"""Journal: the commune's entries, newest first, with filters (agent, kind of action, dates).
Read only: no route edits or deletes an entry."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.response import Template

from core.backoffice.identity import list_agents
from core.backoffice.journal import Entry, JournalFilters, list_entries
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, backoffice_root, permission
from core.backoffice.web.families import page_number
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.i18n import has, t

PER_PAGE = 50
PREFIXES = ("agents", "families", "invoices", "payments", "api_keys")
VALUE_MAX_LENGTH = 80


@dataclass(frozen=True)
class Change:
    """One line of an entry's before/after: `key: before → after` (either may be absent)."""

    key: str
    before: str | None
    after: str | None


def action_label(action: str) -> str:
    key = f"backoffice.journal.actions.{action}"
    return t(key) if has(key) else action


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_MAX_LENGTH else text[: VALUE_MAX_LENGTH - 1] + "…"


def changes(entry: Entry) -> list[Change]:
    """The readable difference of an entry's before and after: the keys that changed (for
    objects), else the two values."""
    before, after = entry.before, entry.after
    if isinstance(before, dict) or isinstance(after, dict):
        old = before if isinstance(before, dict) else {}
        new = after if isinstance(after, dict) else {}
        return [
            Change(
                key,
                _short(old[key]) if key in old else None,
                _short(new[key]) if key in new else None,
            )
            for key in sorted(old.keys() | new.keys())
            if old.get(key) != new.get(key) or key not in old or key not in new
        ]
    if before is None and after is None:
        return []
    return [
        Change(
            "",
            None if before is None else _short(before),
            None if after is None else _short(after),
        )
    ]


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


class JournalController(BackofficeController):
    path = "/{slug:str}/gestion/journal"

    @get("/", name="backoffice_journal", opt=permission("journal.read"))
    async def show_journal(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        params = request.query_params
        values = {name: params.get(name, "").strip() for name in ("agent", "action", "from", "to")}
        agents = await list_agents(commune.id)
        agent_ids = {str(a.id) for a in agents}
        errors: dict[str, list[str]] = {}
        from_day, to_day = _day(values["from"]), _day(values["to"])
        for name, day in (("from", from_day), ("to", to_day)):
            if values[name] and day is None:
                errors[name] = [t("backoffice.journal_page.date_invalid")]
        filters = JournalFilters(
            agent_id=int(values["agent"]) if values["agent"] in agent_ids else None,
            action_prefix=values["action"] + "." if values["action"] in PREFIXES else "",
            from_day=from_day,
            to_day=to_day,
        )
        journal = await list_entries(commune.id, filters, page_number(request), PER_PAGE)
        query = urlencode({k: v for k, v in values.items() if v})
        return backoffice_page(
            request,
            commune,
            agent,
            "backoffice/journal.html",
            journal=journal,
            rows=[(entry, action_label(entry.action), changes(entry)) for entry in journal.entries],
            agents=agents,
            prefixes=PREFIXES,
            values=values,
            errors=errors,
            query=query,
            journal_url=backoffice_root(commune) + "journal",
            status_code=422 if errors else 200,
        )
