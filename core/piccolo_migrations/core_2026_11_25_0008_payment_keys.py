"""Payment keys: one link per (attempt, invoice); at most one settling payment per invoice (the
last guard against settling twice); the lookups of open attempts. Indexes, as in 0002."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-11-25T10:51:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Payment keys"

STATEMENTS = [
    "CREATE UNIQUE INDEX payment_attempt_invoice_key"
    " ON payment_attempt_invoice (attempt, invoice)",
    "CREATE UNIQUE INDEX payment_attempt_invoice_settled"
    " ON payment_attempt_invoice (invoice) WHERE settled",
    "CREATE INDEX payment_attempt_invoice_invoice ON payment_attempt_invoice (invoice)",
    "CREATE INDEX payment_attempt_due_check ON payment_attempt (state, next_check_at)",
    "CREATE INDEX payment_attempt_account ON payment_attempt (account, created_at)",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "core", DESCRIPTION, STATEMENTS)
