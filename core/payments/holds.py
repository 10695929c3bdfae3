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


def _placeholders(values: list[Any]) -> str:
    return ", ".join(["{}"] * len(values))


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
        created = as_aware(row["created_at"])
        if created is None:  # the column is NOT NULL: never, but the reader returns Optional
            continue
        until = created + hold_duration(row["state"])
        if until <= now:
            continue
        current = holds.get(row["invoice"])
        if current is None or until > current.until:
            holds[row["invoice"]] = Hold(state=row["state"], until=until, refdet=row["refdet"])
    return holds
