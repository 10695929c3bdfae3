"""Composite keys as (unique) indexes: SQLite cannot `ALTER TABLE ADD CONSTRAINT`, so Piccolo's
`Unique` constraint is not portable; an index works on both engines."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-11-25T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Composite unique keys"

STATEMENTS = [
    "CREATE UNIQUE INDEX regie_commune_code ON regie (commune, code)",
    "CREATE UNIQUE INDEX payer_commune_ref ON payer (commune, external_ref)",
    "CREATE UNIQUE INDEX payer_email_payer_email ON payer_email (payer, email)",
    "CREATE INDEX payer_email_commune_email ON payer_email (commune, email)",
    "CREATE UNIQUE INDEX account_commune_email ON account (commune, email)",
    "CREATE UNIQUE INDEX account_payer_link ON account_payer (account, payer)",
    "CREATE UNIQUE INDEX throttle_bucket_window ON throttle (bucket, window_start)",
    "CREATE INDEX account_token_account ON account_token (account, purpose)",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "core", DESCRIPTION, STATEMENTS)
