"""Extra addresses that receive the new-invoice alerts of an account."""

from piccolo.columns import ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table

from core.accounts.tables import Account


class AlertAddress(Table, tablename="alert_address"):
    """Unique per (account, email); used only once `confirmed_at` is set.

    The confirmation link's token is kept hashed on the row itself: removing the address kills
    the link, and confirming clears it (single use).
    """

    id: Serial  # added by Piccolo; declared for the type checker

    account = ForeignKey(Account, on_delete=OnDelete.cascade, null=False)
    email = Varchar(length=254, help_text="Normalised: trimmed, lower-case")
    token_hash = Varchar(length=64, null=True, default=None, unique=True)
    token_expires_at = Timestamptz(null=True, default=None)
    confirmed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
