"""Invoice note keys: one note per account and invoice, and the invoice's side for cascades.

As an index, since SQLite cannot `ALTER TABLE ADD CONSTRAINT` (see the core's unique keys); in
a migration of its own because a migration's raw SQL runs before its tables are created.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T11:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Invoice note keys"

STATEMENTS = [
    "CREATE UNIQUE INDEX invoice_note_account_invoice ON invoice_note (account, invoice)",
    "CREATE INDEX invoice_note_invoice ON invoice_note (invoice)",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tipi_legacy", description=DESCRIPTION)

    async def create_indexes() -> None:
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager
