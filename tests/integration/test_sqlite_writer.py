"""SQLite's writes taking turns on one connection per process (`core.engines.SQLiteWriter`):
a lone statement never lands inside another task's transaction, a failed transaction leaves
nothing behind, and a read snapshot (deferred transaction) keeps no write waiting."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from piccolo.engine.sqlite import TransactionType
from piccolo.querystring import QueryString

from core.engines import PortailSQLiteEngine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[PortailSQLiteEngine]:
    engine = PortailSQLiteEngine(path=str(tmp_path / "writer.sqlite"))
    await engine.prep_database()
    await engine.run_querystring(
        QueryString("CREATE TABLE note (id INTEGER PRIMARY KEY, who TEXT)")
    )
    try:
        yield engine
    finally:
        await engine.close_readers()


async def notes(engine: PortailSQLiteEngine) -> list[str]:
    rows = await engine.run_querystring(QueryString("SELECT who FROM note ORDER BY id"))
    return [row["who"] for row in rows]


async def test_lone_writes_during_a_failed_transaction_are_kept_and_its_own_are_not(
    engine: PortailSQLiteEngine,
) -> None:
    inside = asyncio.Event()

    async def failing_transaction() -> None:
        async with engine.transaction():
            await engine.run_querystring(QueryString("INSERT INTO note (who) VALUES ('tx')"))
            inside.set()
            await asyncio.sleep(0.2)  # the others' writes queue meanwhile
            raise RuntimeError("the transaction fails")

    async def lone(n: int) -> None:
        await inside.wait()
        await engine.run_querystring(QueryString("INSERT INTO note (who) VALUES ({})", f"n{n}"))

    failing = asyncio.create_task(failing_transaction())
    await asyncio.gather(*(lone(n) for n in range(20)))
    with pytest.raises(RuntimeError, match="fails"):
        await failing
    assert sorted(await notes(engine)) == sorted(f"n{n}" for n in range(20))


async def test_a_lone_write_queued_behind_a_transaction_waits_for_its_commit(
    engine: PortailSQLiteEngine,
) -> None:
    order: list[str] = []
    inside = asyncio.Event()

    async def transaction() -> None:
        async with engine.transaction():
            inside.set()
            await asyncio.sleep(0.1)
            await engine.run_querystring(QueryString("INSERT INTO note (who) VALUES ('tx')"))
            order.append("tx")

    async def lone() -> None:
        await inside.wait()
        await engine.run_querystring(QueryString("INSERT INTO note (who) VALUES ('lone')"))
        order.append("lone")

    await asyncio.gather(transaction(), lone())
    assert order == ["tx", "lone"]
    assert await notes(engine) == ["tx", "lone"]


async def test_a_read_snapshot_keeps_no_write_waiting(engine: PortailSQLiteEngine) -> None:
    async with engine.transaction(transaction_type=TransactionType.deferred):
        before = await engine.run_querystring(QueryString("SELECT COUNT(*) AS n FROM note"))

        async def write() -> None:
            await engine.run_querystring(QueryString("INSERT INTO note (who) VALUES ('w')"))

        # In a context of its own, outside the snapshot, as another request writes.
        other = asyncio.create_task(write(), context=contextvars.Context())
        await asyncio.wait_for(other, timeout=5)
        after = await engine.run_querystring(QueryString("SELECT COUNT(*) AS n FROM note"))
    assert before[0]["n"] == after[0]["n"] == 0  # the snapshot does not see it
    assert await notes(engine) == ["w"]
