"""A request's PostgreSQL connection is given back after the response went out."""

from __future__ import annotations

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
