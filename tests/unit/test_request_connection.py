"""A request's PostgreSQL connection is given back after the response went out."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from core.engines import RequestConnection


class PoolWhoseResetFails:
    """What asyncpg's pool does when the server went away: the reset fails, the connection
    is terminated, and the error is raised again to the caller of `release`."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.released: list[object] = []

    async def acquire(self) -> object:
        return object()

    async def release(self, connection: object) -> None:
        self.released.append(connection)
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.InternalClientError("cannot switch to state 15"),
        ConnectionResetError("reset by peer"),
        TimeoutError(),
    ],
)
async def test_a_failed_reset_does_not_reach_the_server(error: Exception) -> None:
    """Raised after the response, it would make uvicorn close the client's keep-alive
    connection under its next request (seen as a dropped request in the restart test)."""
    pool = PoolWhoseResetFails(error)
    scope = RequestConnection(pool)
    await scope.connection()
    await scope.release()
    assert len(pool.released) == 1
    await scope.release()  # nothing borrowed any more: nothing given back twice
    assert len(pool.released) == 1


async def test_a_bug_while_giving_back_still_surfaces() -> None:
    scope = RequestConnection(PoolWhoseResetFails(ValueError("a bug")))
    await scope.connection()
    with pytest.raises(ValueError):
        await scope.release()


class QueuePool:
    """A pool that, like asyncpg's, hands a returned connection to whoever asks next: a task
    woken for it may find it taken by one that just arrived."""

    def __init__(self, size: int) -> None:
        self.free: asyncio.Queue[object] = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(object())

    async def acquire(self) -> object:
        return await self.free.get()

    async def release(self, connection: object) -> None:
        self.free.put_nowait(connection)


async def served_order(gate: asyncio.Semaphore | None) -> list[str]:
    """One request holds the only connection and a second waits for it; a third arrives just
    as the first gives it back. Which of the second and third gets it first?"""
    pool = QueuePool(1)
    served: list[str] = []
    holding = asyncio.Event()
    done = asyncio.Event()
    arrivals: list[asyncio.Task[None]] = []

    async def request(name: str, holds: bool = False) -> None:
        scope = RequestConnection(pool, gate)
        await scope.connection()
        served.append(name)
        if holds:
            holding.set()
            await done.wait()
            # A new request arrives: its first step runs before the waiting one is woken.
            arrivals.append(asyncio.create_task(request("newcomer")))
        await scope.release()

    first = asyncio.create_task(request("first", holds=True))
    await holding.wait()
    waiting = asyncio.create_task(request("waiting"))
    await asyncio.sleep(0.01)  # it now waits for the connection
    done.set()
    await asyncio.gather(first, waiting)
    await asyncio.gather(*arrivals)
    return served


async def test_requests_get_a_connection_in_arrival_order() -> None:
    assert await served_order(asyncio.Semaphore(1)) == ["first", "waiting", "newcomer"]


async def test_the_pool_alone_lets_a_newcomer_go_first() -> None:
    """Why the gate: without it the request that waited loses to the newcomer (and at 64
    connections on a pool of 10, some requests kept losing for seconds)."""
    assert await served_order(None) == ["first", "newcomer", "waiting"]
