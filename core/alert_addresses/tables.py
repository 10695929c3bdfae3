"""Extra addresses that receive the new-invoice alerts of an account."""

from piccolo.columns import ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.table import Table

from core.accounts.tables import Account


class AlertAddress(Table, tablename="alert_address"):
    """Unique per (account, email); used only once `confirmed_at` is set.

    The confirmation link's token is kept hashed on the row itself: removing the address kills
    the link, and confirming clears it (single use).
    """

    account = ForeignKey(Account, on_delete=OnDelete.cascade, null=False)
    email = Varchar(length=254, help_text="Normalised: trimmed, lower-case")
    token_hash = Varchar(length=64, null=True, default=None, unique=True)
    token_expires_at = Timestamptz(null=True, default=None)
    confirmed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
