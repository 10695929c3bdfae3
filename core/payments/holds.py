"""Invoices an online payment holds: not offered for payment again while a result may come.

- An open attempt (the parent is at the service, or its result is not known: PayFiP's P5, or
  the parent cancelled a few minutes ago and the service may still complete it: `abandoning`)
  holds its invoices for 2 hours from its creation (payfip.md §4), after which they are
  released, even if the re-check keeps asking about it.
- A declared payment (TIPI's unsigned return) or one awaiting review holds them until an import
  says they are paid, or for 15 days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.db import as_aware, quick_read
from core.payments.tables import (
    DECLARED,
    OPEN_STATES,
    REVIEW,
)

OPEN_HOLD = dt.timedelta(hours=2)
DECLARED_HOLD = dt.timedelta(days=15)
HOLDING_STATES = (*OPEN_STATES, DECLARED, REVIEW)


@dataclass(frozen=True)
class Hold:
    """Why an invoice cannot be paid online right now, and until when."""

    state: str  # "created"/"pending"/"abandoning" (in progress), "declared" or "review"
    until: dt.datetime
    refdet: str

    @property
    def in_progress(self) -> bool:
        return self.state in OPEN_STATES


def hold_duration(state: str) -> dt.timedelta:
    return OPEN_HOLD if state in OPEN_STATES else DECLARED_HOLD


# Hand-written: every parent's list of invoices asks, and Piccolo's query builder took more CPU
# to build this join than the database took to run it. Only placeholders are formatted in.
HOLDS_SQL = """SELECT pai.invoice, pa.state, pa.created_at, pa.refdet
FROM payment_attempt_invoice pai JOIN payment_attempt pa ON pa.id = pai.attempt
WHERE pai.invoice IN ({invoices}) AND pa.state IN ({states}) AND pa.created_at > {{}}"""

# The same attempts joined to the rows of a page's own statement (`HOLD_JOIN.format(invoice=
# "i.id")`, values `hold_join_args()`): on PostgreSQL a statement less is a round trip less.
# Only attempts that may still hold are joined (an invoice has at most a few: one row each,
# which `holds_in_rows` folds); the rule itself stays `hold_of`'s. The check is a correlated
# EXISTS so that both engines go from each row to its links by the invoice index (a join on
# the attempts' states made SQLite read every holding attempt of the database first).
HOLD_COLUMNS = "ha.state AS hold_state, ha.created_at AS hold_created_at, ha.refdet AS hold_refdet"
_OPEN = ", ".join(["{{}}"] * len(OPEN_STATES))
_LASTING = ", ".join(["{{}}"] * (len(HOLDING_STATES) - len(OPEN_STATES)))
HOLD_JOIN = f"""LEFT JOIN payment_attempt_invoice hi ON hi.invoice = {{invoice}} AND EXISTS (
    SELECT 1 FROM payment_attempt x WHERE x.id = hi.attempt
    AND (x.state IN ({_OPEN}) AND x.created_at > {{{{}}}}
        OR x.state IN ({_LASTING}) AND x.created_at > {{{{}}}}))
LEFT JOIN payment_attempt ha ON ha.id = hi.attempt"""  # noqa: S608 (placeholders only)


def hold_join_args(now: dt.datetime) -> list[Any]:
    """The values of `HOLD_JOIN`'s placeholders, in order."""
    lasting = [state for state in HOLDING_STATES if state not in OPEN_STATES]
    return [*OPEN_STATES, now - OPEN_HOLD, *lasting, now - DECLARED_HOLD]


def _placeholders(values: list[Any]) -> str:
    return ", ".join(["{}"] * len(values))


def hold_of(state: str, created_at: Any, refdet: str, now: dt.datetime) -> Hold | None:
    """The hold of one attempt in `state` created at `created_at`, or None if it has ended."""
    created = as_aware(created_at)
    if created is None:  # the column is NOT NULL: never, but the reader returns Optional
        return None
    until = created + hold_duration(state)
    return Hold(state=state, until=until, refdet=refdet) if until > now else None


def _keep(holds: dict[int, Hold], invoice: int, hold: Hold | None) -> None:
    """Of several attempts holding one invoice, the one holding it longest."""
    if hold is not None and (invoice not in holds or hold.until > holds[invoice].until):
        holds[invoice] = hold


def holds_in_rows(rows: Iterable[Any], now: dt.datetime) -> dict[int, Hold]:
    """Invoice id -> its hold, from rows of a statement with `HOLD_COLUMNS` joined by id."""
    holds: dict[int, Hold] = {}
    for row in rows:
        if row["hold_state"] is not None:
            hold = hold_of(row["hold_state"], row["hold_created_at"], row["hold_refdet"], now)
            _keep(holds, row["id"], hold)
    return holds


async def holds_for(invoice_ids: Iterable[int], now: dt.datetime | None = None) -> dict[int, Hold]:
    """Invoice id -> its hold, for the invoices of `invoice_ids` an attempt holds now."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return {}
    now = now or dt.datetime.now(dt.UTC)
    oldest = now - max(OPEN_HOLD, DECLARED_HOLD)
    states = list(HOLDING_STATES)
    rows = await quick_read(
        HOLDS_SQL.format(invoices=_placeholders(ids), states=_placeholders(states)),
        *ids,
        *states,
        oldest,
    )
    holds: dict[int, Hold] = {}
    for row in rows:
        _keep(holds, row["invoice"], hold_of(row["state"], row["created_at"], row["refdet"], now))
    return holds
