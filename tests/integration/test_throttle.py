"""Rate limiting backed by the `throttle` table (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from core.security.tables import Throttle
from core.security.throttle import Limit, hit, is_blocked, purge_expired, reset

pytestmark = pytest.mark.usefixtures("clean_db")

LOGIN = Limit(name="login", max_hits=3, window_seconds=600)
NOW = 1_800_000_000.0  # the start of a 600-second window


async def test_allowed_up_to_max_then_refused() -> None:
    assert [await hit("parent@example.fr", LOGIN, now=NOW + i) for i in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    rows = await Throttle.select(Throttle.bucket, Throttle.hits)
    assert rows == [{"bucket": "login:parent@example.fr", "hits": 5}]


async def test_new_window_allowed_again() -> None:
    for _ in range(4):
        await hit("a@example.fr", LOGIN, now=NOW + 10)
    assert await is_blocked("a@example.fr", LOGIN, now=NOW + 599)
    assert not await is_blocked("a@example.fr", LOGIN, now=NOW + 600)
    assert await hit("a@example.fr", LOGIN, now=NOW + 600)


async def test_is_blocked_does_not_count() -> None:
    assert not await is_blocked("a@example.fr", LOGIN, now=NOW)
    await hit("a@example.fr", LOGIN, now=NOW)
    await hit("a@example.fr", LOGIN, now=NOW)
    for _ in range(5):
        assert not await is_blocked("a@example.fr", LOGIN, now=NOW)
    assert await hit("a@example.fr", LOGIN, now=NOW)
    assert await is_blocked("a@example.fr", LOGIN, now=NOW)


async def test_reset() -> None:
    for _ in range(4):
        await hit("a@example.fr", LOGIN, now=NOW)
    await hit("b@example.fr", LOGIN, now=NOW)
    await reset("a@example.fr", LOGIN)
    assert not await is_blocked("a@example.fr", LOGIN, now=NOW)
    assert await hit("a@example.fr", LOGIN, now=NOW)
    assert await Throttle.count().where(Throttle.bucket == "login:b@example.fr") == 1


async def test_buckets_independent() -> None:
    other_limit = Limit(name="ip", max_hits=3, window_seconds=600)
    for _ in range(3):
        assert await hit("a@example.fr", LOGIN, now=NOW)
    assert not await hit("a@example.fr", LOGIN, now=NOW)
    assert await hit("b@example.fr", LOGIN, now=NOW)
    assert await hit("a@example.fr", other_limit, now=NOW)


async def test_concurrent_hits_never_exceed_the_limit() -> None:
    limit = Limit(name="login", max_hits=5, window_seconds=600)
    results = await asyncio.gather(*(hit("busy@example.fr", limit, now=NOW) for _ in range(20)))
    assert results.count(True) == 5
    assert await Throttle.select(Throttle.hits).first() == {"hits": 20}


async def test_very_long_key_is_hashed() -> None:
    key = "x" * 1000 + "@example.fr"
    assert await hit(key, LOGIN, now=NOW)
    assert await hit(key, LOGIN, now=NOW)
    row = await Throttle.select(Throttle.bucket, Throttle.hits).first()
    assert row is not None
    assert row["hits"] == 2
    assert len(row["bucket"]) <= 300


async def test_purge_expired() -> None:
    await hit("old@example.fr", LOGIN, now=NOW - 2 * 86_400)
    await hit("recent@example.fr", LOGIN, now=NOW - 3_600)
    await hit("current@example.fr", LOGIN, now=NOW)
    assert await purge_expired(now=NOW) == 1
    buckets = {row["bucket"] for row in await Throttle.select(Throttle.bucket)}
    assert buckets == {"login:recent@example.fr", "login:current@example.fr"}
    assert await purge_expired(now=NOW) == 0


def test_limit_validation() -> None:
    with pytest.raises(ValueError):
        Limit(name="x", max_hits=0, window_seconds=60)
    with pytest.raises(ValueError):
        Limit(name="x", max_hits=1, window_seconds=2 * 86_400)
