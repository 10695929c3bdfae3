"""The TIPI plugin's own table (its Piccolo app: `plugins.tipi_legacy.piccolo_app`)."""

from typing import Any

from piccolo.columns import Date, ForeignKey, OnDelete, Serial, Timestamptz
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table

from core.invoices.tables import Invoice

# The core's `Account` table, found by name: no plugin module imports the accounts package.
ACCOUNT = LazyTableReference("Account", app_name="core")


class InvoiceNote(Table, tablename="invoice_note"):
    """A parent's personal note "I have paid this invoice", one per account and invoice.

    TIPI's return is not signed, so the portal cannot know that an invoice was paid: the parent
    may note it for herself. The note changes nothing in the accounts: the invoice stays "à
    régler" until an import says it is paid. The pair (account, invoice) is unique (an index
    created by the migration, since SQLite cannot add a composite constraint).
    """

    id: Serial  # added by Piccolo; declared for the type checker

    account: ForeignKey[Any] = ForeignKey(ACCOUNT, on_delete=OnDelete.cascade, null=False)
    invoice = ForeignKey(Invoice, on_delete=OnDelete.cascade, null=False)
    marked_paid_on = Date(help_text="The day the parent noted the payment (Paris time)")
    created_at = Timestamptz()
