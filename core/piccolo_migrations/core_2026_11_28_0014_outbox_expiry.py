"""The outbox learns when a message is no longer worth sending (`expires_at`, the expiry of the
link it carries) and when an agent put a failed message back to waiting (`requeued_at`, from
which the give-up period counts again). Both nullable: existing rows need no value."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-28T06:00:14:000000"
VERSION = "1.38.0"
DESCRIPTION = "Outbox: expires_at and requeued_at"


def _nullable_timestamp() -> dict:
    return {
        "default": None,
        "null": True,
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
    for column in ("expires_at", "requeued_at"):
        manager.add_column(
            table_class_name="OutboundEmail",
            tablename="outbound_email",
            column_name=column,
            db_column_name=column,
            column_class_name="Timestamptz",
            column_class=Timestamptz,
            params=_nullable_timestamp(),
            schema=None,
        )
    return manager
