"""The fake plugin's own table (its Piccolo app: `tests.plugins.extra_tables.piccolo_app`)."""

from piccolo.columns import Serial, Varchar
from piccolo.table import Table


class Child(Table, tablename="extra_tables_child"):
    id: Serial  # added by Piccolo; declared for the type checker
    name = Varchar(length=100)
