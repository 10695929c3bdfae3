"""The payer side of account_payer: which accounts see a payer (the import's alert e-mails, a
payer's deletion cascading to its links) without scanning every link."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-11-25T10:52:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Index account_payer by payer"

STATEMENTS = ["CREATE INDEX account_payer_payer ON account_payer (payer)"]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "core", DESCRIPTION, STATEMENTS)
