"""The database layer: a migration on data already there, and closing a PostgreSQL pool."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core import db
from core.engines import engine_for

ROOT = Path(__file__).resolve().parents[2]
BEFORE_CLIENT_NUMBER = "2026-11-25T10:52:00:000000"  # the core migration before the rename


def piccolo(database: Path, *args: str) -> None:
    """Piccolo's command line on the SQLite file `database`, as an operator would run it."""
    env = {
        **os.environ,
        "PICCOLO_CONF": "core.piccolo_conf",
        "DATABASE_URL": f"sqlite:///{database}",
    }
    subprocess.run(  # noqa: S603 - our own virtualenv's command, fixed arguments
        [str(Path(sys.executable).with_name("piccolo")), "migrations", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def test_the_client_number_rename_keeps_each_regies_number(tmp_path: Path) -> None:
    database = tmp_path / "before.sqlite"
    piccolo(database, "forwards", "core", BEFORE_CLIENT_NUMBER)
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("INSERT INTO commune (slug, name) VALUES ('boe', 'Ville de Boé')")
        connection.execute(
            "INSERT INTO regie (commune, code, name, payfip_client_number) "
            "VALUES (1, 'CANT', 'Cantine', '004200')"
        )
    piccolo(database, "forwards", "all")
    with contextlib.closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT code, client_number FROM regie").fetchall()
        columns = {row[1] for row in connection.execute("PRAGMA table_info(regie)")}
    assert rows == [("CANT", "004200")]
    assert "payfip_client_number" not in columns


def test_the_payer_search_migration_fills_the_names_already_there(tmp_path: Path) -> None:
    database = tmp_path / "payers.sqlite"
    piccolo(database, "forwards", "core", "2026-11-26T09:00:00:000000")  # before search_name
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("INSERT INTO commune (slug, name) VALUES ('boe', 'Ville de Boé')")
        connection.executemany(
            "INSERT INTO payer (commune, external_ref, name) VALUES (1, ?, ?)",
            [(f"P{n}", f"Famille Lefèvre {n}") for n in range(1_200)],  # several batches
        )
    piccolo(database, "forwards", "all")
    with contextlib.closing(sqlite3.connect(database)) as connection:
        names = connection.execute("SELECT search_name FROM payer ORDER BY id").fetchall()
        indexes = {row[1] for row in connection.execute("PRAGMA index_list(payer)")}
    assert names[0] == ("lefevre 0",) and names[-1] == ("lefevre 1199",)
    assert "payer_search_name" in indexes


@pytest.mark.postgres
async def test_closing_the_pool_does_not_wait_for_a_borrowed_connection(
    migrated_engine: db.Engine,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A request still holding a connection must not keep the server from stopping."""
    engine = engine_for(database_url)
    assert isinstance(engine, db.PostgresEngine)
    await db.open_database(engine)
    assert engine.pool is not None
    await engine.pool.acquire()  # never released: a request still running
    monkeypatch.setattr(db, "POOL_CLOSE_TIMEOUT_SECONDS", 0.2)
    with caplog.at_level("WARNING", logger="core.db"):
        await asyncio.wait_for(db.close_database(engine), timeout=5)
    assert engine.pool is None
    assert "PostgreSQL pool did not close in time; terminating it" in caplog.text
