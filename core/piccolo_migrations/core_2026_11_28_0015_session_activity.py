"""Sessions remember when their browser was last seen (`last_seen_at`, for the inactivity
timeout) and which browser it is (`user_agent`, for the account's list of open sessions).
Existing sessions get no value: they count as last seen when they were opened."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-28T06:00:15:000000"
VERSION = "1.38.0"
DESCRIPTION = "Sessions: last_seen_at and user_agent"


def _params(default: object, *, null: bool) -> dict:
    return {
        "default": default,
        "null": null,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_column(
        table_class_name="WebSession",
        tablename="web_session",
        column_name="last_seen_at",
        db_column_name="last_seen_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params=_params(None, null=True),
        schema=None,
    )
    manager.add_column(
        table_class_name="WebSession",
        tablename="web_session",
        column_name="user_agent",
        db_column_name="user_agent",
        column_class_name="Varchar",
        column_class=Varchar,
        params={**_params("", null=False), "length": 200},
        schema=None,
    )
    return manager
