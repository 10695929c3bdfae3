"""Announcements get a `published` flag: the back office writes drafts and withdraws texts
without deleting them. Rows already there were published by the command line: True.

`ALTER TABLE … ADD COLUMN … DEFAULT true`, which both engines run in place."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-28T06:00:11:000000"
VERSION = "1.38.0"
DESCRIPTION = "Announcement publication flag"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Announcement",
        tablename="announcement",
        column_name="published",
        db_column_name="published",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": True,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
