"""Communes and their régies, mirrored from the TOML configuration so rows can reference them."""

from piccolo.columns import ForeignKey, OnDelete, Serial, Varchar
from piccolo.table import Table


class Commune(Table, tablename="commune"):
    id: Serial  # added by Piccolo; declared for the type checker
    slug = Varchar(length=40, unique=True)
    name = Varchar(length=200)


class Regie(Table, tablename="regie"):
    """A billing unit of a commune; each has its own client number (numcli) at the payment
    service (PayFiP, TIPI)."""

    id: Serial  # added by Piccolo; declared for the type checker

    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    code = Varchar(length=40)
    name = Varchar(length=200)
    client_number = Varchar(length=6, default="")
