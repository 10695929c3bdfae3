"""The rate-limit counts in Redis (`REDIS_URL`), for communes that want to spare their database.

Same windows and answers as the `throttle` table: one Redis hash per bucket, one field per
window start, each change one Lua script (atomic in Redis, so concurrent attempts from any
process are all counted). A hit also drops the bucket's older windows and sets the key to
expire `window_seconds` after it, so Redis forgets finished windows by itself.

Redis down: the counts go to the database instead (`DatabaseStore`), with a warning, and Redis
is tried again `RETRY_REDIS_SECONDS` later. Limits stay enforced across processes (the database
is shared too); what Redis had counted in the current window is not seen meanwhile, so during an
outage a key may get up to twice its attempts in one window. Refusing every login and payment
notification while Redis is down (failing closed) would turn a cache outage into a portal outage.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.security.throttle import DatabaseStore, ThrottleStore

logger = logging.getLogger(__name__)

KEY_PREFIX = "portail:throttle:"
RETRY_REDIS_SECONDS = 30.0
TIMEOUT_SECONDS = 0.5
"""A Redis that does not answer within this costs a request half a second, once per retry."""

# KEYS[1]: the bucket's hash; ARGV[1]: window start; ARGV[2]: seconds the key outlives the hit.
_HIT = """
local hits = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
for _, window in ipairs(redis.call('HKEYS', KEYS[1])) do
  if tonumber(window) < tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], window) end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return hits
"""
_REFUND = """
if tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
end
return 0
"""


class RedisStore:
    """Counts in Redis under `prefix`; in `fallback` (the database) while Redis is down."""

    def __init__(
        self, url: str, *, prefix: str = KEY_PREFIX, fallback: ThrottleStore | None = None
    ) -> None:
        self.prefix = prefix
        self.fallback = fallback or DatabaseStore()
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        self._hit = self.client.register_script(_HIT)
        self._refund = self.client.register_script(_REFUND)
        self._down_until = 0.0

    def _key(self, bucket: str) -> str:
        return self.prefix + bucket

    def _redis_up(self) -> bool:
        return time.monotonic() >= self._down_until

    def _went_down(self, error: Exception) -> None:
        logger.warning(
            "Redis unreachable (%s): rate limits counted in the database for %.0f s",
            error,
            RETRY_REDIS_SECONDS,
        )
        self._down_until = time.monotonic() + RETRY_REDIS_SECONDS

    async def hit(self, bucket: str, window: int, window_seconds: int) -> int:
        if self._redis_up():
            try:
                return int(await self._hit(keys=[self._key(bucket)], args=[window, window_seconds]))
            except (RedisError, OSError) as error:
                self._went_down(error)
        return await self.fallback.hit(bucket, window, window_seconds)

    async def hit_all(self, hits: list[tuple[str, int, int]]) -> list[int]:
        return [await self.hit(*one) for one in hits]

    async def hits(self, bucket: str, window: int) -> int:
        if self._redis_up():
            try:
                return int(await self.client.hget(self._key(bucket), str(window)) or 0)
            except (RedisError, OSError) as error:
                self._went_down(error)
        return await self.fallback.hits(bucket, window)

    async def reset(self, bucket: str) -> None:
        if self._redis_up():
            try:
                await self.client.delete(self._key(bucket))
                return
            except (RedisError, OSError) as error:
                self._went_down(error)
        await self.fallback.reset(bucket)

    async def refund(self, bucket: str, window: int) -> None:
        if self._redis_up():
            try:
                await self._refund(keys=[self._key(bucket)], args=[window])
                return
            except (RedisError, OSError) as error:
                self._went_down(error)
        await self.fallback.refund(bucket, window)

    async def purge_expired(self, cutoff: int) -> int:
        """Redis expires its keys by itself; the database keeps what an outage counted."""
        return await self.fallback.purge_expired(cutoff)

    async def close(self) -> None:
        await self.client.aclose()
