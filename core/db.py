"""The process's database: its engine, its Piccolo apps, transactions and migrations.

Piccolo finds its engine and its apps in the module named by `PICCOLO_CONF` (by default
`core.piccolo_conf`), so the database is process-wide: `use_database()` installs one engine for
every table and for the migrations, `use_apps()` the apps whose tables and migrations they cover.
Engines themselves are built by `core.engines`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import io
import logging
import os
from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.conf.apps import AppRegistry, Finder, PiccoloConfModule
from piccolo.engine import engine_finder
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from core.engines import (
    POOL_MAX_SIZE,
    PortailPostgresEngine,
    PortailSQLiteEngine,
    QuickRead,
    engine_for,
)

logger = logging.getLogger(__name__)


def as_date(value: Any) -> dt.date | None:
    """A date read back from either engine (SQLite gives ISO text); None for no date."""
    if type(value) is str:  # SQLite's, first: a list page reads some 80 of them
        return _date_of_text(value)
    if value is None or type(value) is dt.date:  # asyncpg's
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# A parent's invoices share a few dates (issued with the month's run, due on one day): a hit
# is a lookup in C, where parsing is a call into `date.fromisoformat` and a slice. Dates are
# immutable, so one object may serve every page.
@functools.lru_cache(maxsize=4096)
def _date_of_text(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def as_aware(value: Any) -> dt.datetime | None:
    """A timestamp read back from either engine, timezone-aware (UTC when stored naive)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def all_tables() -> list[type[Table]]:
    """The tables of every Piccolo app (`use_apps()`), and Piccolo's own `migration` table."""
    tables: list[type[Table]] = list(Finder().get_table_classes())
    return [*tables, Migration]


def piccolo_conf() -> PiccoloConfModule:
    """Piccolo's configuration module, `PICCOLO_CONF` (`core.piccolo_conf` unless set): where
    Piccolo's queries, migrations and command line look for `DB` and `APP_REGISTRY`."""
    os.environ.setdefault("PICCOLO_CONF", "core.piccolo_conf")
    module = Finder().get_piccolo_conf_module()
    if module is None:  # Piccolo raises first; this is for the type checker
        raise RuntimeError("PICCOLO_CONF names no module")
    return module


def use_apps(registry: AppRegistry) -> AppRegistry:
    """Make `registry` the Piccolo apps of this process: whose migrations `migrate()` runs and
    whose tables `all_tables()` lists. Returns the previous registry, to put it back.

    By default, the apps are those the plugins register (`core.migrations.app_registry`), with
    the built-in plugins and the installed entry points; a caller with other plugins (the tests'
    `extra_plugins`) installs the registry of its own plugin manager.
    """
    conf = piccolo_conf()
    previous = conf.APP_REGISTRY
    conf.APP_REGISTRY = registry
    return previous


_current: Engine | None = None


def use_database(database_url: str) -> Engine:
    """Make `database_url` the database of this process, for queries and migrations alike."""
    global _current
    engine = engine_for(database_url)
    piccolo_conf().DB = engine
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


async def quick_read(sql: str, *args: Any) -> list[Any]:
    """The rows of `sql` (values as `{}` placeholders), each read by column name: a read of a
    few rows by an index, on a parent's page, written by hand where Piccolo's query builder
    costs more than the query. On SQLite it runs on the event loop's thread and gives values as
    stored (see `QuickRead`): never use it for a scan."""
    return list(await current_engine().run_querystring(QuickRead(sql, *args)))


def statements_are_round_trips() -> bool:
    """Whether each statement is a round trip to a database server (PostgreSQL: some 80 µs of
    this process's CPU on loopback) rather than a call into SQLite's library in this process:
    what decides whether a page folds two statements into one that returns more columns."""
    return isinstance(_current, PortailPostgresEngine)


def request_scope() -> contextlib.AbstractAsyncContextManager[None]:
    """Around one request: on PostgreSQL its statements share one pooled connection (SQLite's
    reads already share one)."""
    if isinstance(_current, PortailPostgresEngine):
        return _current.request_scope()
    return contextlib.nullcontext()


async def release_request_connection() -> None:
    """Before a long wait that runs no statement (a password hash queued behind others): on
    PostgreSQL the request gives its pooled connection back, and borrows one again at its next
    statement. Twenty logins at once, each holding a connection while it waited for a hashing
    thread, left the pages none (a page's p99 while they ran: 2.7 times its idle value)."""
    if isinstance(_current, PortailPostgresEngine):
        await _current.release_request_connection()


async def keep_session(connection: Any) -> None:
    """What a pooled PostgreSQL connection runs when given back: nothing (asyncpg has already
    rolled back a transaction left open and dropped its listeners, without a round trip).

    asyncpg's default reset (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) is
    one more round trip per request, undoing what the portal never does on a pooled connection:
    its session advisory locks are on connections of their own (`core.leader.AdvisoryLock`),
    the importer's lock is a transaction's (`pg_advisory_xact_lock`, released at its end); it
    runs no `LISTEN`, no `SET` and declares no cursor outside a transaction (which ends them).
    """


async def open_database(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=2, max_size=POOL_MAX_SIZE, reset=keep_session)
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
        if engine is None:
            raise RuntimeError("no Piccolo engine configured")
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
