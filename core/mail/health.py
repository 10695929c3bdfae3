"""The outbox seen from outside the sender: how it is doing, putting failures back, forgetting.

- `outbox_health()`: counts by state, the age of the oldest waiting message, the last error;
  what `portail outbox status` prints and the back office's dashboard shows.
- `retry_waiting()`, `retry_failed()`: `portail outbox retry [--failed]`.
- `purge_delivered()`: the hourly housekeeping deletes sent and expired messages once
  `PORTAIL_OUTBOX_RETENTION_DAYS` have passed (their bodies are already blank).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from piccolo.query.functions.aggregate import Count, Min

from core.db import as_aware, transaction
from core.mail.outbox import nudge_sender, utcnow
from core.mail.tables import OutboundEmail

WAITING, SENT, FAILED, EXPIRED = "pending", "sent", "failed", "expired"


@dataclass(frozen=True)
class OutboxHealth:
    waiting: int
    sent: int
    failed: int
    expired: int
    oldest_waiting_age: timedelta | None  # None: nothing waits
    last_error: str  # of the newest waiting or failed message that has one


async def outbox_health(commune_id: int | None = None, now: datetime | None = None) -> OutboxHealth:
    """The outbox's figures, of one commune's messages or (None) of every message."""
    now = now or utcnow()
    scope = _scope(commune_id)
    counts = {
        row["status"]: int(row["count"])
        for row in await OutboundEmail.select(OutboundEmail.status, Count(alias="count"))
        .where(scope)
        .group_by(OutboundEmail.status)
    }
    oldest = (
        await OutboundEmail.select(Min(OutboundEmail.created_at, alias="oldest"))
        .where(scope & (OutboundEmail.status == WAITING))
        .first()
    )
    oldest_at = as_aware(oldest["oldest"]) if oldest else None
    last = (
        await OutboundEmail.select(OutboundEmail.last_error)
        .where(
            scope & OutboundEmail.status.is_in([WAITING, FAILED]) & (OutboundEmail.last_error != "")
        )
        .order_by(OutboundEmail.id, ascending=False)
        .first()
    )
    return OutboxHealth(
        waiting=counts.get(WAITING, 0),
        sent=counts.get(SENT, 0),
        failed=counts.get(FAILED, 0),
        expired=counts.get(EXPIRED, 0),
        oldest_waiting_age=now - oldest_at if oldest_at else None,
        last_error=last["last_error"] if last else "",
    )


def _scope(commune_id: int | None) -> Any:
    if commune_id is None:
        return OutboundEmail.id.is_not_null()
    return OutboundEmail.commune == commune_id


async def retry_waiting(now: datetime | None = None) -> int:
    """Make every waiting message due now (the sender tries them at its next round)."""
    now = now or utcnow()
    async with transaction():
        rows = (
            await OutboundEmail.update({OutboundEmail.next_attempt_at: now})
            .where(OutboundEmail.status == WAITING)
            .returning(OutboundEmail.id)
        )
    nudge_sender()
    return len(rows)


async def retry_failed(now: datetime | None = None) -> int:
    """Put the failed messages back to waiting, due now; their give-up period starts again."""
    now = now or utcnow()
    async with transaction():
        rows = (
            await OutboundEmail.update(
                {
                    OutboundEmail.status: WAITING,
                    OutboundEmail.next_attempt_at: now,
                    OutboundEmail.requeued_at: now,
                }
            )
            .where(OutboundEmail.status == FAILED)
            .returning(OutboundEmail.id)
        )
    nudge_sender()
    return len(rows)


async def purge_delivered(retention_days: int, now: datetime | None = None) -> int:
    """Delete the messages sent (or expired) more than `retention_days` ago; returns how many.

    Waiting and failed messages stay: they are still to be sent, or to be looked at.
    """
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    old = ((OutboundEmail.status == SENT) & (OutboundEmail.sent_at < cutoff)) | (
        (OutboundEmail.status == EXPIRED) & (OutboundEmail.created_at < cutoff)
    )
    async with transaction():
        rows = await OutboundEmail.delete().where(old).returning(OutboundEmail.id)
    return len(rows)
