"""Invoice note keys: one note per account and invoice, and the invoice's side for cascades.

As an index, since SQLite cannot `ALTER TABLE ADD CONSTRAINT` (see the core's unique keys); in
a migration of its own because a migration's raw SQL runs before its tables are created.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-11-25T11:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Invoice note keys"

STATEMENTS = [
    "CREATE UNIQUE INDEX invoice_note_account_invoice ON invoice_note (account, invoice)",
    "CREATE INDEX invoice_note_invoice ON invoice_note (invoice)",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "tipi_legacy", DESCRIPTION, STATEMENTS)
