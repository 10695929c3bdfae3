"""The payer side of account_payer: which accounts see a payer (the import's alert e-mails, a
payer's deletion cascading to its links) without scanning every link."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T10:52:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Index account_payer by payer"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create_index() -> None:
        await engine_finder().run_ddl("CREATE INDEX account_payer_payer ON account_payer (payer)")

    manager.add_raw(create_index)
    return manager
