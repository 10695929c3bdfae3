"""Invoice keys: one number per commune (the import's upsert key), and the tabs' lookups."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-11-25T09:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Invoice keys"

STATEMENTS = [
    "CREATE UNIQUE INDEX invoice_commune_number ON invoice (commune, number)",
    "CREATE INDEX invoice_payer_status_issued ON invoice (payer, status, issued_on)",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "core", DESCRIPTION, STATEMENTS)
