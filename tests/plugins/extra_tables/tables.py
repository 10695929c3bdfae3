"""The fake plugin's own table (its Piccolo app: `tests.plugins.extra_tables.piccolo_app`)."""

from piccolo.columns import Varchar
from piccolo.table import Table


class Child(Table, tablename="extra_tables_child"):
    name = Varchar(length=100)
