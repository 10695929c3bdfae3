"""Database engines: SQLite by default (tuned for a web server), PostgreSQL in production.

Only how an engine is built from a URL: which engine the process uses is `core.db`'s business.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import typing
import weakref
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosqlite
import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory
from piccolo.querystring import QueryString

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 15.0
"""How long a connection waits for SQLite's write lock held by another process."""
POOL_MAX_SIZE = 10
"""Connections of a process's PostgreSQL pool (`core.db.open_database`)."""
WRITE_QUEUE_TIMEOUT_SECONDS = 60.0
"""How long a write waits for its turn among the process's writes (`SQLiteWriter`): a burst
is served in order, however slowly, as PostgreSQL's pool serves it; only a write that can never
have its turn (a transaction waiting for another write of its own process) ends in an error."""


class QuickRead(QueryString):
    """A read of a few rows found by an index (a parent's page), with `{}` placeholders.

    It goes through the engine's `run_querystring` like any statement, but skips Piccolo's
    handling of nested query strings (the values are plain values). On SQLite it runs on the
    event loop's own thread: handing a statement to aiosqlite's thread and back costs more (a
    queue, two thread switches, the GIL passed back and forth) than SQLite takes to answer it,
    and a WAL reader never waits for a writer. Rows come back read by column name (dicts on
    SQLite, asyncpg's `Record`s, a hash look-up, on PostgreSQL), values as stored (on SQLite,
    dates and timestamps as text, booleans as integers).
    """

    def __init__(self, template: str, *args: Any) -> None:  # no super(): see above
        self.template = template
        self.args = list(args)
        self.query_type = "select"
        self.table = None
        self._alias = None
        self.columns = []

    def compile_string(self, engine_type: str = "postgres") -> tuple[str, list[Any]]:
        return _compiled(self.template, engine_type), list(self.args)

    def __str__(self) -> str:
        return self.template


@functools.lru_cache(maxsize=256)
def _compiled(template: str, engine_type: str) -> str:
    """`{}` placeholders as the driver's: `?` for SQLite, `$1`, `$2`... for PostgreSQL."""
    parts = template.split("{}")
    if engine_type == "sqlite":
        return "?".join(parts)
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


class PortailSQLiteEngine(SQLiteEngine):
    """SQLite tuned for a web server.

    - WAL journal and a busy timeout, so readers never block writers and writers queue.
    - Every transaction is `BEGIN IMMEDIATE`: it takes the write lock up front, so two
      concurrent writers wait for each other instead of failing with "database is locked".
    - Writes take turns on one connection per process (`_writer()`): see `SQLiteWriter`.
    - Reads outside a transaction share one persistent connection: Piccolo would otherwise
      open a connection (and a thread) per query, which costs more than half the throughput.
    - A `QuickRead` outside a transaction runs at once on the loop's thread (`_quick_reader`).
    """

    def __init__(self, path: str) -> None:
        super().__init__(path=path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        self._readers: dict[asyncio.AbstractEventLoop, aiosqlite.Connection] = {}
        self._quick_readers: dict[asyncio.AbstractEventLoop, sqlite3.Connection] = {}
        self._writers: dict[asyncio.AbstractEventLoop, SQLiteWriter] = {}

    async def run_querystring(self, querystring: QueryString, in_pool: bool = False) -> Any:
        if isinstance(querystring, QuickRead) and self.current_transaction.get() is None:
            query, args = querystring.compile_string(engine_type=self.engine_type)
            cursor = self._quick_reader().execute(query, args)
            # Dicts, from the driver's tuples: a `sqlite3.Row` finds a column by name by
            # comparing it with each column's in turn, and a list page looks up some 500 values.
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return await super().run_querystring(querystring, in_pool)

    def _quick_reader(self) -> sqlite3.Connection:
        loop = asyncio.get_running_loop()
        reader = self._quick_readers.get(loop)
        if reader is None:
            # Without Piccolo's column-type converters (half the time of a 20-row read): the
            # callers read dates and timestamps with `core.db.as_date` / `as_aware`.
            options = {**self.connection_kwargs, "detect_types": 0, "check_same_thread": False}
            reader = sqlite3.connect(**options)
            reader.execute("PRAGMA foreign_keys = 1")
            self._quick_readers[loop] = reader
        return reader

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.immediate,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        return QueuedTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )

    def _writer(self) -> SQLiteWriter:
        loop = asyncio.get_running_loop()
        writer = self._writers.get(loop)
        if writer is None:
            writer = self._writers[loop] = SQLiteWriter(self)
        return writer

    async def get_connection(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(**self.connection_kwargs)
        connection.row_factory = dict_factory  # type: ignore[assignment]  # sqlite3 stubs want Row
        await connection.execute("PRAGMA foreign_keys = 1")
        await connection.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        return connection

    async def prep_database(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(self.path) as connection:
            await connection.execute("PRAGMA journal_mode = WAL")

    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: Any = None,
    ) -> Any:
        if query_type == "generic" and query.lstrip()[:6].upper() == "SELECT":
            reader = await self._reader()
            return await reader.execute_fetchall(query, args or [])
        return await self._writer().statement(query, args or [])

    async def _run_in_existing_connection(
        self,
        connection: Any,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: Any = None,
    ) -> Any:
        # One call to the connection's thread per statement (Piccolo makes four: a
        # `PRAGMA foreign_keys`, which is a no-op inside a transaction and set once per
        # connection here, then execute, fetch, close): each call waits for a turn of the event
        # loop, and inside a write transaction that wait is spent holding SQLite's write lock.
        return await connection.execute_fetchall(query, args or [])

    async def _reader(self) -> aiosqlite.Connection:
        loop = asyncio.get_running_loop()
        reader = self._readers.get(loop)
        if reader is None:
            # A read cache holds nothing to flush.
            reader = self._readers[loop] = await self.open_daemon_connection()
        return reader

    async def open_daemon_connection(self) -> aiosqlite.Connection:
        """A connection kept for the process's life (the readers', the writer's), rows as
        dicts, foreign keys on. Its thread does not keep the process alive: nothing is left
        uncommitted on it between two statements or transactions."""
        pending = aiosqlite.connect(**self.connection_kwargs)
        thread = getattr(pending, "_thread", None)
        if thread is not None:
            thread.daemon = True
        connection = await pending
        connection.row_factory = dict_factory  # type: ignore[assignment]  # sqlite3 stubs want Row
        await connection.execute("PRAGMA foreign_keys = 1")
        return connection

    async def close_readers(self) -> None:
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            with contextlib.suppress(Exception):
                await reader.close()
        quick_readers, self._quick_readers = self._quick_readers, {}
        for quick_reader in quick_readers.values():
            quick_reader.close()
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            await writer.close()


class SQLiteWriter:
    """The process's one writing connection to a SQLite file (per event loop), and its queue.

    SQLite lets one connection write at a time, and a connection waiting for the lock sleeps
    and retries (its busy handler): it is not woken when the lock is released, and newcomers
    can take the lock first again and again. With a new connection per write, a burst of
    logins had dozens of connections of two processes polling for the lock, and many waited
    past the busy timeout ("database is locked", the French 503 page). Here one connection per
    process competes for SQLite's lock, opened once, and the writes of the process take turns
    on it, first come first served (`lock`):

    - a transaction holds `lock` from its `BEGIN` to its end, so no other write of the
      process enters it. Its turn may take long in a burst: each of its statements waits for
      a turn of the event loop, SQLite's lock held meanwhile, so the transactions of a busy
      process follow one another slowly. Its turn comes within `WRITE_QUEUE_TIMEOUT_SECONDS`,
      then SQLite's lock, which only the other processes' one connection each can hold,
      within `SQLITE_BUSY_TIMEOUT_SECONDS`; else "database is locked", as before;
    - a lone write statement (most writes of a login) only takes its turn: it is handed to
      the connection's thread while it holds `lock`, which it gives back at once. The thread
      runs the statements one after the other, each executed and its rows fetched in one call
      in autocommit mode: SQLite's lock is held while the statement runs, never across a turn
      of the event loop, and the next write need not wait for the loop to see this one end.
      (A second connection for lone statements was tried: its thread kept taking SQLite's
      lock while the transactions' connection slept in its busy handler, and transactions
      waited past the timeout.)
    """

    def __init__(self, engine: PortailSQLiteEngine) -> None:
        self.engine = engine
        self.lock = asyncio.Lock()
        self._connecting = asyncio.Lock()
        self._connection: aiosqlite.Connection | None = None

    async def statement(self, query: str, args: list[Any]) -> Any:
        """One write statement, committed by itself."""
        await self._take_turn()
        try:
            connection = await self._connect()
            # The task's first step puts the statement in the thread's queue; it is scheduled
            # before the next waiter of `lock` is woken (the loop runs callbacks in order), so
            # the statement runs before that waiter's `BEGIN`, never inside its transaction.
            running = asyncio.ensure_future(connection.execute_fetchall(query, args))
        finally:
            self.lock.release()
        return await running

    @contextlib.asynccontextmanager
    async def slot(self, begin: str) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, to this task alone until the block ends, inside a transaction
        opened by `begin` (`"BEGIN IMMEDIATE"`...); what the block leaves open when it raises
        is rolled back."""
        await self._take_turn()
        try:
            connection = await self._connect()
            await connection.execute(begin)
            yield connection
        except BaseException:
            await self._rollback()
            raise
        finally:
            self.lock.release()

    async def _take_turn(self) -> None:
        if not self.lock.locked() and not getattr(self.lock, "_waiters", None):
            # Free and no one waiting: taken at once, without suspending (`wait_for` would
            # cost a turn of the loop per write).
            await self.lock.acquire()
            return
        try:
            await asyncio.wait_for(self.lock.acquire(), WRITE_QUEUE_TIMEOUT_SECONDS)
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None

    async def _connect(self) -> aiosqlite.Connection:
        if self._connection is not None:
            return self._connection
        async with self._connecting:  # two first writes at once open one connection
            if self._connection is None:
                self._connection = await self.engine.open_daemon_connection()
            return self._connection

    async def _rollback(self) -> None:
        """Roll back what a failed transaction left open; a connection that cannot is dropped."""
        connection = self._connection
        if connection is None or not connection.in_transaction:
            return
        try:
            await connection.execute("ROLLBACK")
        except Exception:
            logger.warning("SQLite writer could not roll back; reconnecting", exc_info=True)
            self._connection = None
            with contextlib.suppress(Exception):
                await connection.close()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


class QueuedTransaction(SQLiteTransaction):
    """A write transaction on the process's writing connection, in its turn (`SQLiteWriter`).
    A deferred one (a read snapshot, as an import's dry run takes) has a connection of its own,
    as in Piccolo, so the writes of the process are not kept waiting while it reads."""

    __slots__ = ("_slot",)

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        self._slot = None
        if self.transaction_type is TransactionType.deferred:
            return await super().__aenter__()
        engine = typing.cast(PortailSQLiteEngine, self.engine)
        self._slot = engine._writer().slot(begin=f"BEGIN {self.transaction_type.value}")
        self.connection = await self._slot.__aenter__()
        self.context = engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        if self._slot is None:
            return bool(await super().__aexit__(exception_type, exception, traceback))
        try:
            if exception is None and not self._committed and not self._rolled_back:
                await self.commit()
        except BaseException as error:
            await self._slot.__aexit__(type(error), error, error.__traceback__)
            raise
        else:
            # An exception of the block rolls back in the slot (unless done by hand already).
            await self._slot.__aexit__(exception_type, exception, traceback)
        finally:
            self.engine.current_transaction.reset(self.context)
        return exception is None


class RequestConnection:
    """One pooled PostgreSQL connection for the statements of one request.

    Borrowed at the request's first statement and given back when the request ends, so a page's
    statements share one connection and asyncpg resets it once (`RESET ALL`, `UNLISTEN *`...),
    not after each statement. Only the task that serves the request uses it: a task it starts
    (a background check, `asyncio.gather`) copies the context variable but takes its own
    connection from the pool, as an asyncpg connection runs one statement at a time.
    """

    def __init__(self, pool: Any, gate: asyncio.Semaphore | None = None) -> None:
        self._pool = pool
        self._gate = gate
        self._admitted = False
        self._owner = asyncio.current_task()
        self._connection: asyncpg.Connection | None = None

    def usable(self) -> bool:
        return asyncio.current_task() is self._owner

    async def connection(self) -> asyncpg.Connection:
        if self._connection is None:
            if self._gate is not None and not self._admitted:
                # Requests wait for a connection in arrival order (see `request_gate`).
                await self._gate.acquire()
                self._admitted = True
            self._connection = await self._pool.acquire()
        return self._connection

    def hand_over(self) -> asyncpg.Connection | None:
        """The borrowed connection, for a transaction that gives it back to the pool itself:
        a request never holds one connection while it waits for a second (the pool is small)."""
        connection, self._connection = self._connection, None
        return connection

    async def release(self) -> None:
        """Give the connection (and the place at the gate) back; the next statement, if any,
        borrows again. This runs after the response was sent, or before a long wait
        (`PortailPostgresEngine.release_request_connection`): asyncpg resets the connection
        here, and when the database went away that reset fails (asyncpg then
        terminates the connection and re-raises). Raising further would make the ASGI server
        close the client's keep-alive connection under its next request, so it stops here."""
        connection = self.hand_over()
        try:
            if connection is not None:
                await self._pool.release(connection)
        except (
            OSError,  # TimeoutError included
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.exceptions.InternalClientError,
        ) as error:
            logger.warning("PostgreSQL connection dropped when given back: %r", error)
        finally:
            if self._admitted and self._gate is not None:
                self._admitted = False
                self._gate.release()


_request_connection: ContextVar[RequestConnection | None] = ContextVar(
    "portail_request_connection", default=None
)


class PortailTransaction(PostgresTransaction):
    """A transaction on the request's connection when it has one, else on a pooled one."""

    async def get_connection(self) -> Any:
        scope = _request_connection.get()
        borrowed = scope.hand_over() if scope is not None and scope.usable() else None
        return borrowed if borrowed is not None else await super().get_connection()


class PortailPostgresEngine(PostgresEngine):
    """PostgreSQL with one connection per request (`request_scope()`) instead of one per
    statement; outside a request (background tasks, commands) it is Piccolo's engine."""

    _request_gates: (
        weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] | None
    ) = None

    def request_gate(self) -> asyncio.Semaphore:
        """How many requests hold a connection at once: the pool's size, and the others wait in
        arrival order. asyncpg's pool alone is not fair: a connection given back goes to whoever
        asks next, and a request that just arrived often takes it before the one woken for it,
        which goes back to the end of the queue. At 64 connections on a pool of 10, the page's
        p50 was 6 ms and its p99 2 s: a few requests kept losing. asyncio's semaphore serves its
        waiters first come, first served."""
        if self._request_gates is None:
            self._request_gates = weakref.WeakKeyDictionary()
        loop = asyncio.get_running_loop()  # a semaphore belongs to one loop (tests run several)
        gate = self._request_gates.get(loop)
        if gate is None:
            gate = self._request_gates[loop] = asyncio.Semaphore(POOL_MAX_SIZE)
        return gate

    @contextlib.asynccontextmanager
    async def request_scope(self) -> AsyncIterator[None]:
        if self.pool is None:
            yield
            return
        scope = RequestConnection(self.pool, self.request_gate())
        token = _request_connection.set(scope)
        try:
            yield
        finally:
            _request_connection.reset(token)
            await scope.release()

    async def release_request_connection(self) -> None:
        """Give the request's connection (and its place at the gate) back before a long wait
        that runs no statement; its next statement borrows again. Not inside a transaction,
        which keeps its own connection until it ends."""
        scope = _request_connection.get()
        if scope is not None and scope.usable() and self.current_transaction.get() is None:
            await scope.release()

    async def _run_in_pool(self, query: str, args: Sequence[Any] | None = None) -> Any:
        scope = _request_connection.get()
        if scope is None or not scope.usable():
            return await super()._run_in_pool(query, args)
        connection = await scope.connection()
        return await connection.fetch(query, *(args or []))

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return PortailTransaction(engine=self, allow_nested=allow_nested)


def engine_for(database_url: str) -> Engine:
    """The engine for a `sqlite:///path` or `postgresql://…` URL."""
    scheme = urlsplit(database_url).scheme
    if scheme == "sqlite":
        path = (
            unquote(database_url.removeprefix("sqlite://").removeprefix("/"))
            or "var/portail.sqlite"
        )
        if database_url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        return PortailSQLiteEngine(path=path)
    if scheme in {"postgres", "postgresql"}:
        return PortailPostgresEngine(config={"dsn": database_url})
    raise ValueError(f"DATABASE_URL: unsupported database {scheme!r} (sqlite or postgresql)")
