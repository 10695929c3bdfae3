"""Shared fixtures: a migrated database (SQLite, or PostgreSQL with PORTAIL_TEST_ENGINE=postgres).

PORTAIL_TEST_DATABASE_URL names a PostgreSQL server database we may connect to; each run creates
its own throw-away database there, so runs never see each other's rows.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from core import db

TEST_ENGINE = os.environ.get("PORTAIL_TEST_ENGINE", "sqlite")


def pytest_report_header() -> str:
    return f"portail database engine: {TEST_ENGINE}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `postgres` run only with PORTAIL_TEST_ENGINE=postgres; skipped on SQLite."""
    if TEST_ENGINE == "postgres":
        return
    skip = pytest.mark.skip(reason="PostgreSQL only (PORTAIL_TEST_ENGINE=postgres)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


def _postgres_server_url() -> str:
    url = os.environ.get("PORTAIL_TEST_DATABASE_URL", "")
    if not url:
        pytest.exit("PORTAIL_TEST_ENGINE=postgres needs PORTAIL_TEST_DATABASE_URL", returncode=2)
    return url


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def private_postgres_database(prefix: str = "portail_test") -> AsyncIterator[str]:
    """A throw-away database on the PORTAIL_TEST_DATABASE_URL server: its URL, dropped after."""
    server = _postgres_server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server, name)
    finally:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if TEST_ENGINE == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "portail.sqlite"
        yield f"sqlite:///{path}"
        return
    async with private_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
async def migrated_engine(database_url: str) -> AsyncIterator[db.Engine]:
    engine = db.use_database(database_url)
    await db.open_database(engine)
    await db.migrate()
    yield engine
    await db.close_database(engine)


@pytest.fixture
async def clean_db(migrated_engine: db.Engine) -> AsyncIterator[db.Engine]:
    """An empty, migrated database for one test."""
    await wipe(migrated_engine)
    yield migrated_engine


async def wipe(engine: db.Engine) -> None:
    tables = [t for t in db.all_tables() if t._meta.tablename != "migration"]
    async with engine.transaction():
        if engine.engine_type == "postgres":
            names = ", ".join(f'"{t._meta.tablename}"' for t in tables)
            await engine.run_ddl(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        else:
            # Children before parents; SQLite enforces foreign keys on each statement.
            for table in reversed(_dependency_order(tables)):
                await engine.run_ddl(f'DELETE FROM "{table._meta.tablename}"')  # noqa: S608


def _dependency_order(tables: list[type]) -> list[type]:
    ordered: list[type] = []
    pending = list(tables)
    while pending:
        for table in pending:
            parents = {
                fk._foreign_key_meta.resolved_references for fk in table._meta.foreign_key_columns
            }
            if all(p in ordered or p is table or p not in tables for p in parents):
                ordered.append(table)
                pending.remove(table)
                break
        else:  # a cycle: keep the rest in declaration order
            ordered.extend(pending)
            break
    return ordered


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
