"""Database engines: SQLite by default (tuned for a web server), PostgreSQL in production.

Only how an engine is built from a URL: which engine the process uses is `core.db`'s business.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

SQLITE_BUSY_TIMEOUT_SECONDS = 15.0


class PortailSQLiteEngine(SQLiteEngine):
    """SQLite tuned for a web server.

    - WAL journal and a busy timeout, so readers never block writers and writers queue.
    - Every transaction is `BEGIN IMMEDIATE`: it takes the write lock up front, so two
      concurrent writers wait for each other instead of failing with "database is locked".
    - Reads outside a transaction share one persistent connection: Piccolo would otherwise
      open a connection (and a thread) per query, which costs more than half the throughput.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path=path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        self._readers: dict[asyncio.AbstractEventLoop, aiosqlite.Connection] = {}

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.immediate,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        return SQLiteTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )

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
        return await super()._run_in_new_connection(query, args, query_type, table)

    async def _reader(self) -> aiosqlite.Connection:
        loop = asyncio.get_running_loop()
        reader = self._readers.get(loop)
        if reader is None:
            pending = aiosqlite.connect(**self.connection_kwargs)
            # A read cache holds nothing to flush: its thread must not keep the process alive.
            thread = getattr(pending, "_thread", None)
            if thread is not None:
                thread.daemon = True
            reader = await pending
            reader.row_factory = dict_factory  # type: ignore[assignment]  # sqlite3 stubs want Row
            await reader.execute("PRAGMA foreign_keys = 1")
            self._readers[loop] = reader
        return reader

    async def close_readers(self) -> None:
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            with contextlib.suppress(Exception):
                await reader.close()


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
        return PostgresEngine(config={"dsn": database_url})
    raise ValueError(f"DATABASE_URL: unsupported database {scheme!r} (sqlite or postgresql)")
