"""Parent space keys: one dismissal per (account, message), one alert address per (account,
e-mail), and the home page's lookups. Indexes, as in `*_0002_unique_keys.py` (portable)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-11-25T09:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Parent space keys"

STATEMENTS = [
    "CREATE UNIQUE INDEX message_dismissal_account_announcement"
    " ON message_dismissal (account, announcement)",
    "CREATE UNIQUE INDEX alert_address_account_email ON alert_address (account, email)",
    "CREATE INDEX announcement_commune_kind ON announcement (commune, kind, published_at)",
    "CREATE INDEX contact_message_account ON contact_message (account, created_at)",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "core", DESCRIPTION, STATEMENTS)
