"""Rate limiting in fixed time windows, counted where every server process sees them.

By default the counters live in the database's `throttle` table (`DatabaseStore`); with
`REDIS_URL` they live in Redis (`core.security.redis_throttle`), which spares the database one
write per counted attempt. Either way, several processes and machines share one count. A bucket
is `"<limit name>:<key>"`, the key being what is limited (a normalised e-mail address, a client
IP). Each window counts its own attempts: once it is over, the next one starts at zero, so no
lock is ever permanent. `purge_expired()` removes the rows of finished windows (Redis expires
its keys by itself).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Protocol

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


class ThrottleStore(Protocol):
    """Where the counts live: one counter per (stored bucket, window start)."""

    async def hit(self, bucket: str, window: int, window_seconds: int) -> int:
        """Count one attempt atomically; the window's count, this one included."""
        ...

    async def hit_all(self, hits: list[tuple[str, int, int]]) -> list[int]:
        """`hit()` for each (bucket, window, window_seconds), distinct buckets; their counts."""
        ...

    async def hits(self, bucket: str, window: int) -> int:
        """The window's count (0 if none)."""
        ...

    async def reset(self, bucket: str) -> None:
        """Forget every window of the bucket."""
        ...

    async def refund(self, bucket: str, window: int) -> None:
        """Take one attempt back from the window's count (never below 0)."""
        ...

    async def purge_expired(self, cutoff: int) -> int:
        """Forget the windows that started before `cutoff`; how many."""
        ...

    async def close(self) -> None:
        """Release connections (at shutdown)."""
        ...


class DatabaseStore:
    """The counts in the `throttle` table: one row per bucket and window.

    Each change is a single statement, atomic by itself on SQLite and PostgreSQL alike, and
    not wrapped in a transaction: on SQLite a lone statement holds the write lock only while
    it runs, where a transaction holds it across turns of the event loop (`core.engines`).
    """

    async def hit(self, bucket: str, window: int, window_seconds: int) -> int:
        return (await self.hit_all([(bucket, window, window_seconds)]))[0]

    async def hit_all(self, hits: list[tuple[str, int, int]]) -> list[int]:
        # One upsert for all the buckets: concurrent attempts (from any process) are all
        # counted and no more than `max_hits` are allowed, for one write instead of one each.
        # Rows in bucket order: on PostgreSQL two such upserts lock shared rows in one order,
        # so they cannot deadlock.
        if not hits:
            return []
        ordered = sorted(hits)
        values = ", ".join("({}, {}, 1)" for _ in ordered)
        rows = await Throttle.raw(
            f"INSERT INTO throttle (bucket, window_start, hits) VALUES {values} "  # noqa: S608 - placeholders only
            "ON CONFLICT (bucket, window_start) DO UPDATE SET hits = throttle.hits + 1 "
            "RETURNING bucket, hits",
            *(value for bucket, window, _ in ordered for value in (bucket, window)),
        )
        counts = {row["bucket"]: int(row["hits"]) for row in rows}
        return [counts[bucket] for bucket, _, _ in hits]

    async def hits(self, bucket: str, window: int) -> int:
        row = (
            await Throttle.select(Throttle.hits)
            .where((Throttle.bucket == bucket) & (Throttle.window_start == window))
            .first()
        )
        return 0 if row is None else int(row["hits"])

    # Written by hand, as `hit_all`: every successful login runs both, and Piccolo's query
    # builder cost more of the event loop's time than the statements.
    async def reset(self, bucket: str) -> None:
        await Throttle.raw("DELETE FROM throttle WHERE bucket = {}", bucket)

    async def refund(self, bucket: str, window: int) -> None:
        await Throttle.raw(
            "UPDATE throttle SET hits = hits - 1"
            " WHERE bucket = {} AND window_start = {} AND hits > 0",
            bucket,
            window,
        )

    async def purge_expired(self, cutoff: int) -> int:
        rows = await Throttle.raw(
            "DELETE FROM throttle WHERE window_start < {} RETURNING id", cutoff
        )
        return len(rows)

    async def close(self) -> None:
        return None


_store: ThrottleStore = DatabaseStore()


def use_store(store: ThrottleStore) -> ThrottleStore:
    """Make `store` where this process counts (like `core.db.use_database`); the previous one."""
    global _store
    previous, _store = _store, store
    return previous


def current_store() -> ThrottleStore:
    return _store


async def hit(bucket: str, limit: Limit, *, now: float | None = None) -> bool:
    """Count one attempt for the key `bucket`; True when it is within the limit.

    The increment is atomic in every store, so concurrent attempts (from any process) are all
    counted and no more than `max_hits` are allowed.
    """
    hits = await _store.hit(
        bucket_name(bucket, limit), window_start(limit, now), limit.window_seconds
    )
    return hits <= limit.max_hits


async def hit_all(keyed: list[tuple[str, Limit]], *, now: float | None = None) -> list[bool]:
    """`hit()` for each (key, limit), in one write to the store; whether each is within its
    limit. The limits must differ (each is counted once)."""
    if len({limit.name for _, limit in keyed}) < len(keyed):
        raise ValueError("hit_all: one key per limit")
    counts = await _store.hit_all(
        [
            (bucket_name(key, limit), window_start(limit, now), limit.window_seconds)
            for key, limit in keyed
        ]
    )
    return [hits <= limit.max_hits for hits, (_, limit) in zip(counts, keyed, strict=True)]


async def count(bucket: str, limit: Limit, *, now: float | None = None) -> int:
    """The attempts counted for the key `bucket` in the current window."""
    return await _store.hits(bucket_name(bucket, limit), window_start(limit, now))


async def is_blocked(bucket: str, limit: Limit, now: float | None = None) -> bool:
    """Whether the key `bucket` has used up its attempts in the current window (counts none)."""
    return await count(bucket, limit, now=now) >= limit.max_hits


async def reset(bucket: str, limit: Limit) -> None:
    """Forget the attempts of the key `bucket` (e.g. failed logins, after a successful one)."""
    await _store.reset(bucket_name(bucket, limit))


async def refund(bucket: str, limit: Limit, *, now: float | None = None) -> None:
    """Give back one attempt counted by `hit()` in the current window, for a limit that counts
    failures only: the attempt is counted before it is checked (so concurrent attempts cannot
    slip past the limit), and refunded when it succeeds."""
    await _store.refund(bucket_name(bucket, limit), window_start(limit, now))


async def purge_expired(now: float | None = None) -> int:
    """Delete the windows that started more than a day ago; the number deleted."""
    cutoff = int(time.time() if now is None else now) - PURGE_AFTER_SECONDS
    return await _store.purge_expired(cutoff)
