"""The outbox learns a message's extra header fields (`headers`, a JSON object; "" for none),
such as the news' `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058). Existing rows get
"": no extra header."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-28T06:22:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Outbox: headers"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_column(
        table_class_name="OutboundEmail",
        tablename="outbound_email",
        column_name="headers",
        db_column_name="headers",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
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
