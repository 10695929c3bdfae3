"""Agents' replies to parents' contact messages (`contact_reply`), indexed by message
(a thread is read by its message).

Its ID sorts after `backoffice_2026_11_28_0002_keys` (09:00:01): Piccolo runs an app's
migrations in ID order, and this table's foreign key needs the `agent` table, which
PostgreSQL checks at creation."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Serial, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-11-28T09:00:05:000000"
VERSION = "1.38.0"
DESCRIPTION = "Contact replies"


class Agent(Table, tablename="agent", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


class ContactMessage(Table, tablename="contact_message", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


def _params(**extra: object) -> dict[str, object]:
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **extra,
    }


def _foreign_key(references: type[Table], on_delete: OnDelete, *, null: bool) -> dict[str, object]:
    return _params(
        references=references,
        on_delete=on_delete,
        on_update=OnUpdate.cascade,
        target_column=None,
        null=null,
    )


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="backoffice", description=DESCRIPTION)
    manager.add_table(
        class_name="ContactReply", tablename="contact_reply", schema=None, columns=None
    )
    for name, column_class, params in (
        (
            "message",
            ForeignKey,
            _foreign_key(ContactMessage, OnDelete.cascade, null=False) | {"index": True},
        ),
        ("agent", ForeignKey, _foreign_key(Agent, OnDelete.set_null, null=True)),
        ("body", Text, _params(default="")),
        ("sent_at", Timestamptz, _params(default=TimestamptzNow())),
    ):
        manager.add_column(
            table_class_name="ContactReply",
            tablename="contact_reply",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
