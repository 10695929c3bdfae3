"""Invoices, as imported from the commune's billing software. Money is integer cents."""

from piccolo.columns import (
    BigInt,
    Boolean,
    Date,
    ForeignKey,
    OnDelete,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from core.accounts.tables import Payer
from core.communes.tables import Commune, Regie

# Invoice states, as the tabs of "Mes factures" show them.
TO_PAY = "a_regler"
PAID = "reglee"
TREASURY = "tresorerie"
STATUSES = (TO_PAY, PAID, TREASURY)


class Invoice(Table, tablename="invoice"):
    id: Serial  # added by Piccolo; declared for the type checker
    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    regie = ForeignKey(Regie, on_delete=OnDelete.restrict, null=False)
    payer = ForeignKey(Payer, on_delete=OnDelete.cascade, null=False)
    number = Varchar(length=64, help_text="Invoice number, unique per commune")
    payment_reference = Varchar(length=64, default="", help_text="Reference for payment (refdet)")
    object = Varchar(length=200, default="")
    issued_on = Date()
    due_on = Date(null=True, default=None)
    amount_cents = BigInt()
    paid_cents = BigInt(default=0)
    status = Varchar(length=16, default=TO_PAY, help_text="a_regler, reglee or tresorerie")
    paid_on = Date(null=True, default=None)
    payment_mode = Varchar(length=32, default="")
    authorisation_number = Varchar(length=64, default="")
    direct_debit = Boolean(default=False)
    debit_on = Date(null=True, default=None)
    pdf_path = Varchar(length=300, default="", help_text="Imported PDF, relative to the data dir")
    published_at = Timestamptz()
    updated_at = Timestamptz()
