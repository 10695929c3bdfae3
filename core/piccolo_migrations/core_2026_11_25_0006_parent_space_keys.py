"""Parent space keys: one dismissal per (account, message), one alert address per (account,
e-mail), and the home page's lookups. Indexes, as in `*_0002_unique_keys.py` (portable)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

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
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create_indexes() -> None:
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager
