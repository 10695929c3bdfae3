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
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from core.accounts.names import search_name

ID = "2026-11-28T06:00:13:000000"
VERSION = "1.38.0"
DESCRIPTION = "Payer search name"

BATCH = 500
INDEX_SQLITE = "CREATE INDEX payer_search_name ON payer (commune, search_name)"
INDEX_POSTGRES = 'CREATE INDEX payer_search_name ON payer (commune, search_name COLLATE "C")'


async def backfill() -> None:
    """Fill `search_name` for every payer, by batches of ids, then create the index.

    Through Piccolo's engine (`engine_finder`), in the migration's transaction: the `piccolo`
    command runs migrations without the application's database set up. One `UPDATE … CASE`
    per batch, rather than one statement per payer."""
    engine: Any = engine_finder()
    last_id = 0
    while True:
        rows = await engine.run_querystring(
            QueryString(
                'SELECT "id", "name" FROM "payer" WHERE "id" > {} ORDER BY "id" LIMIT {}',
                last_id,
                BATCH,
            )
        )
        if not rows:
            break
        cases = " ".join("WHEN {} THEN {}" for _ in rows)
        args: list[Any] = []
        for row in rows:
            args += [row["id"], search_name(row["name"])]
        ids = ", ".join("{}" for _ in rows)
        await engine.run_querystring(
            QueryString(
                f'UPDATE "payer" SET "search_name" = CASE "id" {cases} END WHERE "id" IN ({ids})',
                *args,
                *[row["id"] for row in rows],
            )
        )
        last_id = rows[-1]["id"]
    await engine.run_ddl(INDEX_POSTGRES if engine.engine_type == "postgres" else INDEX_SQLITE)


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
