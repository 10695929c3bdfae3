"""Bulk statements on the current write transaction, for imports of many rows.

Piccolo builds a `Table` instance and a query per call, which costs more than the database for
tens of thousands of rows. These helpers send plain SQL on the connection of the transaction
opened by `core.db.transaction()`: aiosqlite's `executemany` on SQLite (values go through the
adapters Piccolo registers, so dates and timestamps are stored as Piccolo stores them),
asyncpg's `executemany` and binary `COPY` on PostgreSQL. Large batches go in chunks, so the
event loop is never held for long.

SQL is written with `?` placeholders; they become `$1, $2…` on PostgreSQL. Table and column
names are never taken from user input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from core.db import current_engine

# SQLite allows 32766 variables per statement (since 3.32); PostgreSQL 32767.
MAX_VARIABLES = 30_000
INSERT_CHUNK = 10_000
# Rows per read on PostgreSQL, whose driver decodes them on the event loop's thread.
FETCH_CHUNK = 10_000
_PLACEHOLDER = re.compile(r"\?")


def is_postgres() -> bool:
    return current_engine().engine_type == "postgres"


def _connection() -> Any:
    transaction = current_engine().current_transaction.get()
    if transaction is None:
        raise RuntimeError("bulk statements must run inside `async with transaction():`")
    return transaction.connection


def _sql(sql: str) -> str:
    if not is_postgres():
        return sql
    counter = iter(range(1, MAX_VARIABLES + 2))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


async def executemany(sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run `sql` once per row of `rows`, in the current transaction (in chunks)."""
    connection, sql = _connection(), _sql(sql)
    for chunk in chunks(list(rows), INSERT_CHUNK):
        await connection.executemany(sql, chunk)


async def execute(sql: str, args: Sequence[Any] = ()) -> None:
    """Run one statement in the current transaction."""
    connection = _connection()
    if is_postgres():
        await connection.execute(_sql(sql), *args)
    else:
        cursor = await connection.execute(sql, args)
        await cursor.close()


async def fetch(sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """The rows of `sql` as dicts, read in the current transaction."""
    connection = _connection()
    if is_postgres():
        return [dict(record) for record in await connection.fetch(_sql(sql), *args)]
    return list(await connection.execute_fetchall(sql, args))


async def fetch_tuples(sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of `sql` as tuples (cheaper than dicts for many rows), in the transaction."""
    connection = _connection()
    if is_postgres():
        return [tuple(record) for record in await connection.fetch(_sql(sql), *args)]
    cursor = await connection.execute(sql, args)
    cursor.row_factory = None  # the connection's factory makes dicts
    try:
        return list(await cursor.fetchall())
    finally:
        await cursor.close()


def _in_array(sql: str) -> str:
    """PostgreSQL: `IN ({in})` as `= ANY(?)`, one array parameter instead of thousands."""
    return sql.replace("IN ({in})", "= ANY(?)")


async def fetch_in_tuples(
    sql: str, values: Sequence[Any], *, before: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """`fetch_in()` with rows as tuples."""
    rows: list[tuple[Any, ...]] = []
    if is_postgres():
        array_sql = _in_array(sql)
        for chunk in chunks(list(values), FETCH_CHUNK):
            rows.extend(await fetch_tuples(array_sql, [*before, chunk]))
        return rows
    for chunk in chunks(list(values), MAX_VARIABLES // 4):
        marks = ", ".join("?" * len(chunk))
        rows.extend(await fetch_tuples(sql.format(**{"in": marks}), [*before, *chunk]))
    return rows


async def fetch_in(
    sql: str, values: Sequence[Any], *, before: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """`fetch(sql)` where `sql` contains one `IN ({in})`, for every value of `values` in chunks
    (on PostgreSQL, one array parameter per chunk, see `_in_array`).

    `before` are the arguments of the placeholders that precede the `IN` list.
    """
    rows: list[dict[str, Any]] = []
    if is_postgres():
        array_sql = _in_array(sql)
        for chunk in chunks(list(values), FETCH_CHUNK):
            rows.extend(await fetch(array_sql, [*before, chunk]))
        return rows
    for chunk in chunks(list(values), MAX_VARIABLES // 4):
        marks = ", ".join("?" * len(chunk))
        rows.extend(await fetch(sql.format(**{"in": marks}), [*before, *chunk]))
    return rows


async def insert_many(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert `rows` (tuples in the order of `columns`) into `table`.

    PostgreSQL gets them through `COPY` (asyncpg's binary copy: several times faster than
    `executemany`); both engines take them in chunks, so no single call holds the event loop
    (encoding happens on the loop's thread with asyncpg) for long.
    """
    if not rows:
        return
    connection = _connection()
    if is_postgres():
        for chunk in chunks(list(rows), INSERT_CHUNK):
            await connection.copy_records_to_table(table, records=chunk, columns=list(columns))
        return
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'  # noqa: S608 (constant names)
    for chunk in chunks(list(rows), INSERT_CHUNK):
        await connection.executemany(sql, chunk)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
