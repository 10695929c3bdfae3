"""Which process runs the background work that must run once: the payment re-check and the
hourly housekeeping.

Several server processes (`portail serve --workers N`, several machines) share one database;
each would otherwise ask PayFiP about every due payment and purge the same rows. One of them
leads, elected by the database itself, with nothing to configure:

- PostgreSQL: the process whose dedicated connection holds the session advisory lock
  `BACKGROUND_LOCK` (`pg_try_advisory_lock`). PostgreSQL releases it when that connection ends,
  so when the leader dies, a follower (each tries again every `RETRY_SECONDS`) takes over.
- SQLite (one machine): the process holding an exclusive `flock` on a file next to the
  database; the kernel releases it when the process dies.

The leader checks every `CHECK_SECONDS` that its connection is alive, and stops the work when
it is not. Each job also claims its own work in the database (a due payment attempt, an
outbox message), so the short moment when a cut-off leader has not noticed yet and another
has taken over asks or sends nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Protocol

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from core.engines import PortailSQLiteEngine

logger = logging.getLogger(__name__)

BACKGROUND_LOCK = 0x706F7274_61696C  # "portail": any constant, the same in every process
RETRY_SECONDS = 5.0
CHECK_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0

Job = Callable[[], Coroutine[object, object, None]]


class Leadership(Protocol):
    """A lock that at most one process holds at a time, released if the holder dies."""

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; False if another process holds it (or no database)."""
        ...

    async def still_held(self) -> bool:
        """Whether this process still holds the lock it took."""
        ...

    async def release(self) -> None:
        """Give the lock back (and the connection or file that held it)."""
        ...


class AdvisoryLock:
    """PostgreSQL's session advisory lock, on a connection of its own (not the pool's: the
    lock lasts as long as the session, and a pooled connection is shared and reset)."""

    def __init__(self, dsn: str, key: int = BACKGROUND_LOCK, name: str = "background") -> None:
        self.dsn = dsn
        self.key = key
        self.name = name
        self._connection: asyncpg.Connection | None = None

    async def try_acquire(self) -> bool:
        try:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(
                    self.dsn,
                    timeout=CONNECT_TIMEOUT_SECONDS,
                    # Who holds it, for an operator (and a test) looking at pg_stat_activity.
                    server_settings={"application_name": f"portail {self.name} pid {os.getpid()}"},
                )
            taken = await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key)
            return bool(taken)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            logger.warning("Background work: cannot reach PostgreSQL for its lock (%s)", error)
            await self.release()
            return False

    async def still_held(self) -> bool:
        connection = self._connection
        if connection is None or connection.is_closed():
            return False
        try:
            await connection.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self.release()
            return False
        return True

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Closing the session releases its advisory locks.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), CONNECT_TIMEOUT_SECONDS)
            if not connection.is_closed():
                connection.terminate()


class FileLock:
    """An exclusive `flock` on a file: one machine's processes (SQLite's case). A `temporary`
    file is removed by the holder when it releases it (a lock for one job, not for ever)."""

    def __init__(self, path: Path, *, temporary: bool = False) -> None:
        self.path = path
        self.temporary = temporary
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            if self.temporary:
                # Removed while still locked: whoever opens the path later gets a new file.
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            os.close(fd)  # closing the only descriptor releases the lock


def process_lock(engine: Engine, name: str, key: int, *, temporary: bool = False) -> Leadership:
    """A lock that one process at a time holds among those using this database, released when
    that process dies: the advisory lock `key` on PostgreSQL, the file `<database>.<name>-lock`
    on SQLite (`temporary`: removed on release)."""
    if isinstance(engine, PostgresEngine):
        return AdvisoryLock(str(engine.config["dsn"]), key, name)
    if isinstance(engine, PortailSQLiteEngine):
        return FileLock(Path(f"{engine.path}.{name}-lock"), temporary=temporary)
    raise TypeError(f"no process lock for {type(engine).__name__}")


def leadership_for(engine: Engine) -> Leadership:
    """The lock that elects the leader among the processes using this database."""
    return process_lock(engine, "background", BACKGROUND_LOCK)


async def lead(
    leadership: Leadership,
    jobs: Sequence[Job],
    *,
    retry_seconds: float = RETRY_SECONDS,
    check_seconds: float = CHECK_SECONDS,
) -> None:
    """Forever: become the leader when the lock is free, run `jobs` while it is held, stop
    them when it is lost. Cancel the task to stop (the lock is then given back)."""
    try:
        while True:
            if await leadership.try_acquire():
                logger.info("Background work: this process (pid %s) runs it", os.getpid())
                await _run_while_held(leadership, jobs, check_seconds)
                logger.warning("Background work: lock lost; another process may take over")
            await asyncio.sleep(retry_seconds)
    finally:
        await leadership.release()


async def _run_while_held(
    leadership: Leadership, jobs: Sequence[Job], check_seconds: float
) -> None:
    tasks = [asyncio.create_task(job()) for job in jobs]
    try:
        held = True
        while held:
            await asyncio.sleep(check_seconds)
            held = await leadership.still_held()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
