"""Invitations e-mailed to the families ("Inviter les familles"): the `invitation` table, and
its lookup by (commune, address, date).

The ID sorts after the back office's first migrations (2026-11-28T09:00:0x): Piccolo runs an
app's migrations in ID order, and this table refers to `agent`. Piccolo runs a migration's raw
steps before its tables are created, so the index is created after them (`_run_add_columns`).
"""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder
from piccolo.table import Table

ID = "2026-11-28T09:00:06:000000"
VERSION = "1.38.0"
DESCRIPTION = "Invitations of the families"

INDEX = "CREATE INDEX invitation_commune_email ON invitation (commune, email, sent_at)"


class Agent(Table, tablename="agent", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


class Commune(Table, tablename="commune", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


def _params(**params: Any) -> dict[str, Any]:
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **params,
    }


class InvitationMigration(MigrationManager):
    async def _run_add_columns(self, backwards: bool = False) -> Any:
        await super()._run_add_columns(backwards=backwards)
        if not backwards and not self.preview:
            engine = engine_finder()
            await engine.run_ddl(INDEX)  # type: ignore[union-attr]


async def forwards() -> MigrationManager:
    manager = InvitationMigration(migration_id=ID, app_name="backoffice", description=DESCRIPTION)
    manager.add_table(class_name="Invitation", tablename="invitation", schema=None, columns=None)
    columns: list[tuple[str, type, dict[str, Any]]] = [
        (
            "commune",
            ForeignKey,
            _params(
                references=Commune,
                on_delete=OnDelete.cascade,
                on_update=OnUpdate.cascade,
                target_column=None,
            ),
        ),
        ("email", Varchar, _params(length=254, default="")),
        ("sent_at", Timestamptz, _params(default=TimestamptzNow())),
        (
            "agent",
            ForeignKey,
            _params(
                references=Agent,
                on_delete=OnDelete.set_null,
                on_update=OnUpdate.cascade,
                target_column=None,
                null=True,
            ),
        ),
    ]
    for name, column_class, params in columns:
        manager.add_column(
            table_class_name="Invitation",
            tablename="invitation",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
