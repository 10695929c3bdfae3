"""Database engines: SQLite by default, PostgreSQL in production.

Piccolo finds its engine through `PICCOLO_CONF` (here `core.piccolo_conf`), so the database is
process-wide: `use_database()` installs one engine for every table and for the migrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosqlite
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.engine import engine_finder
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

SQLITE_BUSY_TIMEOUT_SECONDS = 15.0

logger = logging.getLogger(__name__)


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
        connection.row_factory = dict_factory  # type: ignore[assignment]
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
            reader.row_factory = dict_factory  # type: ignore[assignment]
            await reader.execute("PRAGMA foreign_keys = 1")
            self._readers[loop] = reader
        return reader

    async def close_readers(self) -> None:
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            with contextlib.suppress(Exception):
                await reader.close()


def as_date(value: Any) -> dt.date | None:
    """A date read back from either engine (SQLite gives ISO text); None for no date."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def as_aware(value: Any) -> dt.datetime | None:
    """A timestamp read back from either engine, timezone-aware (UTC when stored naive)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


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


def all_tables() -> list[type]:
    from piccolo.conf.apps import Finder

    tables: list[type] = list(Finder().get_table_classes())
    return [*tables, Migration]


_current: Engine | None = None


def use_database(database_url: str) -> Engine:
    """Make `database_url` the database of this process, for queries and migrations alike."""
    global _current
    os.environ.setdefault("PICCOLO_CONF", "core.piccolo_conf")
    import core.piccolo_conf as piccolo_conf

    engine = engine_for(database_url)
    piccolo_conf.DB = engine
    for table in all_tables():
        table._meta.db = engine
    _current = engine
    return engine


def current_engine() -> Engine:
    if _current is None:
        raise RuntimeError("use_database() has not been called")
    return _current


def transaction() -> Any:
    """A write transaction (IMMEDIATE on SQLite): `async with transaction(): ...`."""
    return current_engine().transaction()


async def open_database(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=2, max_size=10)
    else:
        await engine.prep_database()


POOL_CLOSE_TIMEOUT_SECONDS = 10.0


async def close_database(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        pool = engine.pool
        try:
            # A graceful close waits for every borrowed connection; never wait forever.
            await asyncio.wait_for(engine.close_connection_pool(), POOL_CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning("PostgreSQL pool did not close in time; terminating it")
            if pool is not None:
                pool.terminate()
            engine.pool = None
    elif isinstance(engine, PortailSQLiteEngine):
        await engine.close_readers()


def ddl_migration(
    migration_id: str, app_name: str, description: str, statements: list[str]
) -> MigrationManager:
    """A migration that runs DDL statements in order: the indexes Piccolo cannot declare
    portably (composite and partial unique keys; SQLite has no `ALTER TABLE ADD CONSTRAINT`)."""
    manager = MigrationManager(
        migration_id=migration_id, app_name=app_name, description=description
    )

    async def run_statements() -> None:
        engine = engine_finder()  # what Piccolo's own migration commands use too
        for statement in statements:
            await engine.run_ddl(statement)

    manager.add_raw(run_statements)
    return manager


async def migrate(verbose: bool = False) -> None:
    """Apply every pending migration of every app (idempotent)."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    engine = current_engine()
    await engine.prep_database()
    output = io.StringIO()
    quiet = contextlib.redirect_stdout(output) if not verbose else contextlib.nullcontext()
    with quiet:
        result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"Migration failed: {result.message}\n{output.getvalue()}")
