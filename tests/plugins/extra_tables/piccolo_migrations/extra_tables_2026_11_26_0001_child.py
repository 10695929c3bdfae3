"""The fake plugin's table. Migration files are imported by their name: it starts with the app's."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

ID = "2026-11-26T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Child"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="extra_tables", description=DESCRIPTION)
    manager.add_table(class_name="Child", tablename="extra_tables_child", schema=None, columns=None)
    manager.add_column(
        table_class_name="Child",
        tablename="extra_tables_child",
        column_name="name",
        db_column_name="name",
        column_class_name="Varchar",
        column_class=Varchar,
        params={"length": 100, "default": "", "null": False},
        schema=None,
    )
    return manager
