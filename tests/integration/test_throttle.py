"""Rate limiting, counted in the `throttle` table (SQLite and PostgreSQL) or in Redis.

Every behaviour is checked against both stores (`store` fixture): the real Redis of this
machine (PORTAIL_TEST_REDIS_URL, else redis://127.0.0.1:6379/0), each test under a key
prefix of its own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import RedisError

from core.app import create_app
from core.config import PortalConfig
from core.security import throttle
from core.security.redis_throttle import RedisStore
from core.security.tables import Throttle
from core.security.throttle import (
    DatabaseStore,
    Limit,
    ThrottleStore,
    count,
    hit,
    is_blocked,
    purge_expired,
    refund,
    reset,
)
from core.settings import Settings

pytestmark = pytest.mark.usefixtures("clean_db")

REDIS_URL = os.environ.get("PORTAIL_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
LOGIN = Limit(name="login", max_hits=3, window_seconds=600)
NOW = 1_800_000_000.0  # the start of a 600-second window


async def forget_keys(store: RedisStore) -> None:
    """Delete this test's keys only (the Redis is shared)."""
    keys = [key async for key in store.client.scan_iter(match=f"{store.prefix}*")]
    if keys:
        await store.client.delete(*keys)


@contextlib.asynccontextmanager
async def own_redis_store() -> AsyncIterator[RedisStore]:
    """A store under a prefix of its own; skipped without a Redis (failed in CI, which has one)."""
    store = RedisStore(REDIS_URL, prefix=f"portail-test-{uuid.uuid4().hex}:")
    try:
        await store.client.ping()
    except (RedisError, OSError) as error:
        await store.close()
        reason = f"no Redis at {REDIS_URL} ({error})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Redis tests must run in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        yield store
    finally:
        await forget_keys(store)
        await store.close()


@pytest.fixture
async def redis_store() -> AsyncIterator[RedisStore]:
    async with own_redis_store() as store:
        yield store


@pytest.fixture(params=["database", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[ThrottleStore]:
    """The store the module's functions count in, for one test."""
    async with contextlib.AsyncExitStack() as stack:
        chosen: ThrottleStore = (
            await stack.enter_async_context(own_redis_store())
            if request.param == "redis"
            else DatabaseStore()
        )
        previous = throttle.use_store(chosen)
        try:
            yield chosen
        finally:
            throttle.use_store(previous)


@pytest.mark.usefixtures("store")
async def test_allowed_up_to_max_then_refused() -> None:
    assert [await hit("parent@example.fr", LOGIN, now=NOW + i) for i in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert await count("parent@example.fr", LOGIN, now=NOW) == 5


@pytest.mark.usefixtures("store")
async def test_new_window_allowed_again() -> None:
    for _ in range(4):
        await hit("a@example.fr", LOGIN, now=NOW + 10)
    assert await is_blocked("a@example.fr", LOGIN, now=NOW + 599)
    assert not await is_blocked("a@example.fr", LOGIN, now=NOW + 600)
    assert await hit("a@example.fr", LOGIN, now=NOW + 600)


@pytest.mark.usefixtures("store")
async def test_is_blocked_does_not_count() -> None:
    assert not await is_blocked("a@example.fr", LOGIN, now=NOW)
    await hit("a@example.fr", LOGIN, now=NOW)
    await hit("a@example.fr", LOGIN, now=NOW)
    for _ in range(5):
        assert not await is_blocked("a@example.fr", LOGIN, now=NOW)
    assert await hit("a@example.fr", LOGIN, now=NOW)
    assert await is_blocked("a@example.fr", LOGIN, now=NOW)


@pytest.mark.usefixtures("store")
async def test_reset() -> None:
    for _ in range(4):
        await hit("a@example.fr", LOGIN, now=NOW)
    await hit("b@example.fr", LOGIN, now=NOW)
    await reset("a@example.fr", LOGIN)
    assert not await is_blocked("a@example.fr", LOGIN, now=NOW)
    assert await hit("a@example.fr", LOGIN, now=NOW)
    assert await count("b@example.fr", LOGIN, now=NOW) == 1


@pytest.mark.usefixtures("store")
async def test_refund_gives_back_one_attempt_of_the_current_window_only() -> None:
    for _ in range(3):
        await hit("a@example.fr", LOGIN, now=NOW)
    await refund("a@example.fr", LOGIN, now=NOW)
    assert await count("a@example.fr", LOGIN, now=NOW) == 2
    assert await hit("a@example.fr", LOGIN, now=NOW)  # the refunded attempt is free again
    assert not await hit("a@example.fr", LOGIN, now=NOW)
    # Another window's count, or none at all, never goes below zero.
    await refund("a@example.fr", LOGIN, now=NOW + 600)
    await refund("nobody@example.fr", LOGIN, now=NOW)
    assert await count("a@example.fr", LOGIN, now=NOW + 600) == 0
    assert await count("nobody@example.fr", LOGIN, now=NOW) == 0
    assert await count("a@example.fr", LOGIN, now=NOW) == 4


@pytest.mark.usefixtures("store")
async def test_buckets_independent() -> None:
    other_limit = Limit(name="ip", max_hits=3, window_seconds=600)
    for _ in range(3):
        assert await hit("a@example.fr", LOGIN, now=NOW)
    assert not await hit("a@example.fr", LOGIN, now=NOW)
    assert await hit("b@example.fr", LOGIN, now=NOW)
    assert await hit("a@example.fr", other_limit, now=NOW)


@pytest.mark.usefixtures("store")
async def test_concurrent_hits_never_exceed_the_limit() -> None:
    limit = Limit(name="login", max_hits=5, window_seconds=600)
    results = await asyncio.gather(*(hit("busy@example.fr", limit, now=NOW) for _ in range(20)))
    assert results.count(True) == 5
    assert await count("busy@example.fr", limit, now=NOW) == 20


@pytest.mark.usefixtures("store")
async def test_hit_all_counts_each_limit_in_one_write() -> None:
    strict = Limit(name="strict", max_hits=1, window_seconds=600)
    assert await throttle.hit_all([("k", LOGIN), ("k", strict)], now=NOW) == [True, True]
    assert await throttle.hit_all([("k", LOGIN), ("k", strict)], now=NOW) == [True, False]
    assert await count("k", LOGIN, now=NOW) == 2 and await count("k", strict, now=NOW) == 2
    with pytest.raises(ValueError, match="one key per limit"):
        await throttle.hit_all([("a", LOGIN), ("b", LOGIN)], now=NOW)


@pytest.mark.usefixtures("store")
async def test_concurrent_hit_alls_never_exceed_either_limit() -> None:
    other = Limit(name="other", max_hits=5, window_seconds=600)
    answers = await asyncio.gather(
        *(throttle.hit_all([("k", LOGIN), ("k", other)], now=NOW) for _ in range(12))
    )
    assert [a[0] for a in answers].count(True) == LOGIN.max_hits
    assert [a[1] for a in answers].count(True) == other.max_hits


@pytest.mark.usefixtures("store")
async def test_very_long_key_is_hashed() -> None:
    key = "x" * 1000 + "@example.fr"
    assert await hit(key, LOGIN, now=NOW)
    assert await hit(key, LOGIN, now=NOW)
    assert await count(key, LOGIN, now=NOW) == 2
    assert len(throttle.bucket_name(key, LOGIN)) <= throttle.BUCKET_MAX_LENGTH


async def test_the_database_store_keeps_one_row_per_window() -> None:
    throttle.use_store(DatabaseStore())
    for i in range(3):
        await hit("a@example.fr", LOGIN, now=NOW + i)
    await hit("a@example.fr", LOGIN, now=NOW + 600)
    rows = await Throttle.select(Throttle.window_start, Throttle.hits).order_by(Throttle.id)
    assert rows == [
        {"window_start": int(NOW), "hits": 3},
        {"window_start": int(NOW) + 600, "hits": 1},
    ]


async def test_purge_expired() -> None:
    throttle.use_store(DatabaseStore())
    await hit("old@example.fr", LOGIN, now=NOW - 2 * 86_400)
    await hit("recent@example.fr", LOGIN, now=NOW - 3_600)
    await hit("current@example.fr", LOGIN, now=NOW)
    assert await purge_expired(now=NOW) == 1
    buckets = {row["bucket"] for row in await Throttle.select(Throttle.bucket)}
    assert buckets == {"login:recent@example.fr", "login:current@example.fr"}
    assert await purge_expired(now=NOW) == 0


async def test_redis_forgets_finished_windows_by_itself(redis_store: RedisStore) -> None:
    throttle.use_store(redis_store)
    try:
        await hit("a@example.fr", LOGIN, now=NOW)
        await hit("a@example.fr", LOGIN, now=NOW + 600)
        key = redis_store.prefix + throttle.bucket_name("a@example.fr", LOGIN)
        # One field per running window (the older one is dropped), and an expiry.
        assert await redis_store.client.hgetall(key) == {str(int(NOW) + 600).encode(): b"1"}
        assert 0 < await redis_store.client.ttl(key) <= LOGIN.window_seconds
        assert await Throttle.count() == 0  # nothing written to the database
    finally:
        throttle.use_store(DatabaseStore())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_down_counts_in_the_database(caplog: pytest.LogCaptureFixture) -> None:
    down = RedisStore(f"redis://127.0.0.1:{closed_port()}/0")
    throttle.use_store(down)
    try:
        with caplog.at_level(logging.WARNING, "core.security.redis_throttle"):
            results = [await hit("a@example.fr", LOGIN, now=NOW) for _ in range(4)]
        assert results == [True, True, True, False]  # still limited, and across processes:
        assert await Throttle.select(Throttle.bucket, Throttle.hits) == [
            {"bucket": "login:a@example.fr", "hits": 4}
        ]
        assert await is_blocked("a@example.fr", LOGIN, now=NOW)
        # One warning, then the database until Redis is tried again.
        warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        throttle.use_store(DatabaseStore())
        await down.close()


async def test_the_app_counts_in_redis_when_redis_url_is_set(
    settings: Settings, portal_config: PortalConfig, redis_store: RedisStore
) -> None:
    create_app(dataclasses.replace(settings, redis_url=REDIS_URL), config=portal_config)
    try:
        chosen = throttle.current_store()
        assert isinstance(chosen, RedisStore)
        chosen.prefix = redis_store.prefix  # this test's keys only
        assert await hit("a@example.fr", LOGIN, now=NOW)
        assert await redis_store.client.exists(
            redis_store.prefix + throttle.bucket_name("a@example.fr", LOGIN)
        )
        assert await Throttle.count() == 0
        await chosen.close()
    finally:
        throttle.use_store(DatabaseStore())


def test_limit_validation() -> None:
    with pytest.raises(ValueError):
        Limit(name="x", max_hits=0, window_seconds=60)
    with pytest.raises(ValueError):
        Limit(name="x", max_hits=1, window_seconds=2 * 86_400)
