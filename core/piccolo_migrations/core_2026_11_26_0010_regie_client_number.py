"""The régie's client number at the payment service gets a provider-neutral name: PayFiP and TIPI
both use it (`payfip_client_number` -> `client_number`).

`ALTER TABLE … RENAME COLUMN`, which PostgreSQL and SQLite (3.25 and later) both run; written
with Piccolo's `rename_column` so the schema snapshot of later `--auto` migrations follows."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-26T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Rename regie.payfip_client_number to client_number"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.rename_column(
        table_class_name="Regie",
        tablename="regie",
        old_column_name="payfip_client_number",
        new_column_name="client_number",
        old_db_column_name="payfip_client_number",
        new_db_column_name="client_number",
    )
    return manager
