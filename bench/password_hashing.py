"""Argon2id hashing cost, and how much the event loop lags while hashes run.

    .venv/bin/python bench/password_hashing.py

1. Times `core.security.passwords.hash_password` one call at a time (median of 20).
2. Runs a ticker coroutine (`asyncio.sleep(0.001)` in a loop, recording how late each wake-up
   is) while 10 `hash_password` calls run concurrently, `REPEATS` times, and prints the worst
   loop lag, the 95th percentile and the median of the wake-up delays, and the batch's time.
   The hashes run in the module's pool, one thread per core at a lower CPU priority than the
   loop (argon2-cffi releases the GIL), so the loop keeps turning.
3. The same 10 hashes in anyio's worker threads, at most `os.cpu_count()` at a time (an
   `anyio.CapacityLimiter`, what the portal used before session 6): anyio's default allows 40
   threads, so 10 hashes would be 10 runnable threads on 2 cores, and the loop's thread would
   wait for the OS scheduler now and then.
4. For contrast, the same 10 hashes computed directly on the event loop (what a plain
   `PasswordHasher.hash()` call in a handler would do): the lag is then the whole batch.

Exits 1 when `hash_password` blocks the loop (worst lag above half the blocking batch).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import anyio.to_thread

from core.security import passwords

SAMPLES = 20
CONCURRENT = 10
REPEATS = 3
TICK_SECONDS = 0.001
PASSWORD = "correct horse battery staple"  # noqa: S105 - a fixed benchmark input


@dataclass
class Lag:
    worst_ms: float
    p95_ms: float
    median_ms: float
    batch_ms: float
    """Median wall time of one batch of `CONCURRENT` hashes."""
    ticks: int

    def line(self, label: str) -> str:
        return (
            f"  {label:<36} worst {self.worst_ms:6.1f} ms   p95 {self.p95_ms:5.1f} ms   "
            f"median {self.median_ms:4.1f} ms   batch {self.batch_ms:6.1f} ms"
        )


async def median_hash_ms() -> tuple[float, float, float]:
    await passwords.hash_password(PASSWORD)  # warm-up: thread pool, allocator
    timings = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        await passwords.hash_password(PASSWORD)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), min(timings), max(timings)


async def lag_while(work: Callable[[], Awaitable[object]], repeats: int = REPEATS) -> Lag:
    """Runs `work()` `repeats` times alongside a 1 ms ticker and measures its wake-up delays."""
    lags: list[float] = []
    batches: list[float] = []
    for _ in range(repeats):
        done = asyncio.Event()

        async def ticker(done: asyncio.Event = done) -> None:
            while not done.is_set():
                expected = time.perf_counter() + TICK_SECONDS
                await asyncio.sleep(TICK_SECONDS)
                lags.append(max(0.0, time.perf_counter() - expected) * 1000)

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)  # the ticker is running before the work starts
        started = time.perf_counter()
        try:
            await work()
        finally:
            batches.append((time.perf_counter() - started) * 1000)
            done.set()
            await ticking
    lags.sort()
    return Lag(
        worst_ms=lags[-1],
        p95_ms=lags[int(len(lags) * 0.95)],
        median_ms=statistics.median(lags),
        batch_ms=statistics.median(batches),
        ticks=len(lags),
    )


async def hash_password_batch() -> None:
    await asyncio.gather(*(passwords.hash_password(PASSWORD) for _ in range(CONCURRENT)))


CORES_LIMITER = anyio.CapacityLimiter(os.cpu_count() or 1)


async def limited_batch() -> None:
    async def one() -> None:
        await anyio.to_thread.run_sync(passwords._hasher.hash, PASSWORD, limiter=CORES_LIMITER)

    await asyncio.gather(*(one() for _ in range(CONCURRENT)))


async def blocking_batch() -> None:
    async def one() -> None:
        passwords._hasher.hash(PASSWORD)  # blocking, on purpose: the counter-example

    await asyncio.gather(*(one() for _ in range(CONCURRENT)))


async def main() -> int:
    cores = os.cpu_count()
    print(
        f"password_hashing: {cores} CPUs, Python {sys.version.split()[0]}, Argon2id "
        f"m={passwords.ARGON2_MEMORY_COST_KIB} KiB t={passwords.ARGON2_TIME_COST} "
        f"p={passwords.ARGON2_PARALLELISM}"
    )
    median, fastest, slowest = await median_hash_ms()
    print(
        f"\nhash_password, one at a time: median {median:.1f} ms over {SAMPLES} "
        f"(min {fastest:.1f}, max {slowest:.1f})"
    )

    print(
        f"\nEvent-loop lag (1 ms ticker) during {CONCURRENT} concurrent hashes, "
        f"{REPEATS} batches each:"
    )
    idle = await lag_while(lambda: asyncio.sleep(0.25), repeats=1)
    print(idle.line("idle loop (250 ms sleep)"))
    shipped = await lag_while(hash_password_batch)
    print(shipped.line("hash_password (as shipped)"))
    limited = await lag_while(limited_batch)
    print(limited.line(f"worker threads, at most {cores} at once"))
    blocking = await lag_while(blocking_batch, repeats=1)
    print(blocking.line("on the loop (counter-example)"))

    blocked = shipped.worst_ms > blocking.batch_ms / 2
    print(
        f"\nhash_password: worst loop lag {shipped.worst_ms:.1f} ms, p95 {shipped.p95_ms:.1f} ms, "
        f"against {blocking.batch_ms:.0f} ms when hashing on the loop: "
        f"{'BLOCKS THE LOOP' if blocked else 'the loop is not blocked'}"
    )
    return 1 if blocked else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
