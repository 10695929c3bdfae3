"""Invoice keys: one number per commune (the import's upsert key), and the tabs' lookups."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T09:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Invoice keys"

STATEMENTS = [
    "CREATE UNIQUE INDEX invoice_commune_number ON invoice (commune, number)",
    "CREATE INDEX invoice_payer_status_issued ON invoice (payer, status, issued_on)",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create_indexes() -> None:
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager
