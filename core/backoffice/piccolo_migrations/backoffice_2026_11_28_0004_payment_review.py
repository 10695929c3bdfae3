"""The agents' decisions on payments in review (`payment_review`): one per attempt, with the
agent, the decision (confirmed or closed), the mandatory comment and the time.

The ID sorts after the back office's first migrations (Piccolo runs an app's migrations in the
order of their IDs), since the table refers to `agent`.
"""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Serial, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class Agent(Table, tablename="agent", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


class Commune(Table, tablename="commune", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


class PaymentAttempt(Table, tablename="payment_attempt", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


ID = "2026-11-28T09:00:04:000000"
VERSION = "1.38.0"
DESCRIPTION = "Payment review decisions"


def _params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    params.update(overrides)
    return params


def _foreign_key(references: type[Table], on_delete: OnDelete, **overrides: Any) -> dict[str, Any]:
    return _params(
        references=references,
        on_delete=on_delete,
        on_update=OnUpdate.cascade,
        target_column=None,
        **overrides,
    )


COLUMNS: list[tuple[str, type, dict[str, Any]]] = [
    ("commune", ForeignKey, _foreign_key(Commune, OnDelete.cascade)),
    ("attempt", ForeignKey, _foreign_key(PaymentAttempt, OnDelete.cascade, unique=True)),
    ("agent", ForeignKey, _foreign_key(Agent, OnDelete.set_null, null=True)),
    ("decision", Varchar, _params(length=16, default="")),
    ("comment", Text, _params(default="")),
    ("decided_at", Timestamptz, _params(default=TimestamptzNow())),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="backoffice", description=DESCRIPTION)
    manager.add_table(
        class_name="PaymentReview", tablename="payment_review", schema=None, columns=None
    )
    for name, column_class, params in COLUMNS:
        manager.add_column(
            table_class_name="PaymentReview",
            tablename="payment_review",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
