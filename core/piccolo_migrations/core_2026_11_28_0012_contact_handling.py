"""Contact messages as the back office handles them: when an agent first read it, when and by
whom it was handled. `handled_by` is an agent's id without a foreign key: the `agent` table
belongs to the back-office app, whose migrations run after the core's. Plus the lookup of the
back office's list: a commune's messages, newest first (Piccolo runs a migration's raw DDL
before its new columns, so the index names only columns that were already there)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz
from piccolo.columns.indexes import IndexMethod

from core.db import ddl_migration

ID = "2026-11-28T06:00:12:000000"
VERSION = "1.38.0"
DESCRIPTION = "Contact message handling"

INDEXES = ["CREATE INDEX contact_message_commune ON contact_message (commune, created_at)"]


def _params(**extra: object) -> dict[str, object]:
    return {
        "null": True,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **extra,
    }


async def forwards() -> MigrationManager:
    manager = ddl_migration(ID, "core", DESCRIPTION, INDEXES)
    for name, column_class, params in (
        ("read_at", Timestamptz, _params(default=None)),
        ("handled_at", Timestamptz, _params(default=None)),
        ("handled_by", Integer, _params(default=None)),
    ):
        manager.add_column(
            table_class_name="ContactMessage",
            tablename="contact_message",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
