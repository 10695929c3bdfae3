"""The back office's family search: `payer.search_name` (the name lower-case, without accents),
filled for the payers already there, and indexed for prefix searches.

Piccolo runs a migration's raw steps before its columns are added, so the backfill and the index
run right after `add_column`, in the same transaction (`PayerSearchMigration`). On PostgreSQL
the index uses the "C" collation: a prefix is then a byte range, as on SQLite, whatever the
database's locale (a linguistic collation does not keep "martin…" between "martin" and "martio").
"""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

from core import db_bulk
from core.accounts.names import search_name

ID = "2026-11-28T06:00:13:000000"
VERSION = "1.38.0"
DESCRIPTION = "Payer search name"

BATCH = 10_000
INDEX_SQLITE = "CREATE INDEX payer_search_name ON payer (commune, search_name)"
INDEX_POSTGRES = 'CREATE INDEX payer_search_name ON payer (commune, search_name COLLATE "C")'


async def backfill() -> None:
    """Fill `search_name` for every payer, by batches of ids, then create the index."""
    last_id = 0
    while True:
        rows = await db_bulk.fetch_tuples(
            'SELECT "id", "name" FROM "payer" WHERE "id" > ? ORDER BY "id" LIMIT ?',
            [last_id, BATCH],
        )
        if not rows:
            break
        await db_bulk.executemany(
            'UPDATE "payer" SET "search_name" = ? WHERE "id" = ?',
            [(search_name(name), payer_id) for payer_id, name in rows],
        )
        last_id = rows[-1][0]
    await db_bulk.execute(INDEX_POSTGRES if db_bulk.is_postgres() else INDEX_SQLITE)


class PayerSearchMigration(MigrationManager):
    async def _run_add_columns(self, backwards: bool = False) -> Any:
        await super()._run_add_columns(backwards=backwards)
        if not backwards and not self.preview:
            await backfill()


async def forwards() -> MigrationManager:
    manager = PayerSearchMigration(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Payer",
        tablename="payer",
        column_name="search_name",
        db_column_name="search_name",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 200,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
