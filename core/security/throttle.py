"""Rate limiting in fixed time windows, stored in the `throttle` table.

The counters live in the database, so every server process sees the same ones. A bucket is
`"<limit name>:<key>"`, the key being what is limited (a normalised e-mail address, a client IP).
Each window counts its own attempts: once it is over, the next one starts at zero, so no lock
is ever permanent. `purge_expired()` removes the rows of finished windows.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from core.db import transaction
from core.security.tables import Throttle

MAX_WINDOW_SECONDS = 86_400
"""Windows last at most a day, so `purge_expired()` never removes a running one."""
PURGE_AFTER_SECONDS = 86_400
"""Windows that started longer ago than this are over and get purged."""
BUCKET_MAX_LENGTH = 300
"""Length of the `throttle.bucket` column."""


@dataclass(frozen=True)
class Limit:
    """At most `max_hits` attempts per `window_seconds`, for the buckets named `name`."""

    name: str
    max_hits: int
    window_seconds: int

    def __post_init__(self) -> None:
        if self.max_hits < 1:
            raise ValueError("Limit.max_hits must be at least 1")
        if not 1 <= self.window_seconds <= MAX_WINDOW_SECONDS:
            raise ValueError(f"Limit.window_seconds must be between 1 and {MAX_WINDOW_SECONDS}")


def bucket_name(bucket: str, limit: Limit) -> str:
    """The stored bucket for the caller's key; a key too long for the column is hashed."""
    name = f"{limit.name}:{bucket}"
    if len(name) > BUCKET_MAX_LENGTH:
        name = f"{limit.name}:sha256:{hashlib.sha256(bucket.encode()).hexdigest()}"
    return name


def window_start(limit: Limit, now: float | None = None) -> int:
    """Unix time of the start of the window of `limit` containing `now`."""
    instant = int(time.time() if now is None else now)
    return instant - instant % limit.window_seconds


async def hit(bucket: str, limit: Limit, *, now: float | None = None) -> bool:
    """Count one attempt for the key `bucket`; True when it is within the limit.

    The increment is a single upsert, atomic on SQLite and PostgreSQL alike, so concurrent
    attempts (from any process) are all counted and no more than `max_hits` are allowed.
    """
    async with transaction():
        rows = await Throttle.raw(
            "INSERT INTO throttle (bucket, window_start, hits) VALUES ({}, {}, 1) "
            "ON CONFLICT (bucket, window_start) DO UPDATE SET hits = throttle.hits + 1 "
            "RETURNING hits",
            bucket_name(bucket, limit),
            window_start(limit, now),
        )
    return int(rows[0]["hits"]) <= limit.max_hits


async def is_blocked(bucket: str, limit: Limit, now: float | None = None) -> bool:
    """Whether the key `bucket` has used up its attempts in the current window (counts none)."""
    row = (
        await Throttle.select(Throttle.hits)
        .where(
            (Throttle.bucket == bucket_name(bucket, limit))
            & (Throttle.window_start == window_start(limit, now))
        )
        .first()
    )
    return row is not None and row["hits"] >= limit.max_hits


async def reset(bucket: str, limit: Limit) -> None:
    """Forget the attempts of the key `bucket` (e.g. failed logins, after a successful one)."""
    async with transaction():
        await Throttle.delete().where(Throttle.bucket == bucket_name(bucket, limit))


async def refund(bucket: str, limit: Limit, *, now: float | None = None) -> None:
    """Give back one attempt counted by `hit()` in the current window, for a limit that counts
    failures only: the attempt is counted before it is checked (so concurrent attempts cannot
    slip past the limit), and refunded when it succeeds."""
    async with transaction():
        await Throttle.update({Throttle.hits: Throttle.hits - 1}).where(
            (Throttle.bucket == bucket_name(bucket, limit))
            & (Throttle.window_start == window_start(limit, now))
            & (Throttle.hits > 0)
        )


async def purge_expired(now: float | None = None) -> int:
    """Delete the windows that started more than a day ago; the number of rows deleted."""
    cutoff = int(time.time() if now is None else now) - PURGE_AFTER_SECONDS
    async with transaction():
        rows = await Throttle.raw(
            "DELETE FROM throttle WHERE window_start < {} RETURNING id", cutoff
        )
    return len(rows)
