"""News by e-mail: who asked for it (`news_alert_subscription`, one row per account) and which
news items were sent (`news_mailing`, one row per item: the unique index makes a second sending
impossible). Plus `web_session.display_name`, the header's name copied at login.

Piccolo runs a migration's raw steps before its tables are created, so the unique indexes are
created after the columns (`_run_add_columns`), as the back office's invitations migration does.
"""

from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder
from piccolo.table import Table

ID = "2026-11-28T06:00:20:000000"
VERSION = "1.38.0"
DESCRIPTION = "News alerts: subscriptions and mailings; the session's display name"

INDEXES = [
    "CREATE UNIQUE INDEX news_alert_subscription_account ON news_alert_subscription (account)",
    "CREATE UNIQUE INDEX news_mailing_announcement ON news_mailing (announcement)",
]


class Account(Table, tablename="account", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


class Announcement(Table, tablename="announcement", schema=None):
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


def _foreign_key(references: type[Table]) -> dict[str, Any]:
    return _params(
        references=references,
        on_delete=OnDelete.cascade,
        on_update=OnUpdate.cascade,
        target_column=None,
    )


class NewsAlertsMigration(MigrationManager):
    async def _run_add_columns(self, backwards: bool = False) -> Any:
        await super()._run_add_columns(backwards=backwards)
        if not backwards and not self.preview:
            engine = engine_finder()
            for statement in INDEXES:
                await engine.run_ddl(statement)  # type: ignore[union-attr]


async def forwards() -> MigrationManager:
    manager = NewsAlertsMigration(migration_id=ID, app_name="core", description=DESCRIPTION)
    tables: dict[tuple[str, str], list[tuple[str, type, dict[str, Any]]]] = {
        ("NewsAlertSubscription", "news_alert_subscription"): [
            ("account", ForeignKey, _foreign_key(Account)),
            ("created_at", Timestamptz, _params(default=TimestamptzNow())),
        ],
        ("NewsMailing", "news_mailing"): [
            ("announcement", ForeignKey, _foreign_key(Announcement)),
            ("sent_at", Timestamptz, _params(default=TimestamptzNow())),
            ("recipients", Integer, _params(default=0)),
        ],
    }
    for (class_name, tablename), columns in tables.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params in columns:
            manager.add_column(
                table_class_name=class_name,
                tablename=tablename,
                column_name=name,
                db_column_name=name,
                column_class_name=column_class.__name__,
                column_class=column_class,
                params=params,
                schema=None,
            )
    manager.add_column(
        table_class_name="WebSession",
        tablename="web_session",
        column_name="display_name",
        db_column_name="display_name",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=200, default=""),
        schema=None,
    )
    return manager
