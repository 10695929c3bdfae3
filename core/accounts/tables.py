"""Payers (débiteurs), parents' accounts, their single-use tokens and web sessions."""

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from core.communes.tables import Commune


class Payer(Table, tablename="payer"):
    """A débiteur known to the commune's billing software."""

    id: Serial  # added by Piccolo; declared for the type checker

    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    external_ref = Varchar(length=64, help_text="Reference in the billing software")
    name = Varchar(length=200)
    search_name = Varchar(
        length=200,
        default="",
        help_text="The name as the back office searches it (core.accounts.names.search_name)",
    )


class PayerEmail(Table, tablename="payer_email"):
    """An e-mail address the billing service knows for a payer: the key to activation."""

    id: Serial  # added by Piccolo; declared for the type checker

    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    payer = ForeignKey(Payer, on_delete=OnDelete.cascade, null=False)
    email = Varchar(length=254, index=True, help_text="Normalised: trimmed, lower-case")


class Account(Table, tablename="account"):
    """A parent's login; e-mail addresses are unique per commune."""

    id: Serial  # added by Piccolo; declared for the type checker

    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    email = Varchar(length=254)
    password_hash = Text(default="")
    state = Varchar(length=16, default="pending", help_text="pending, active or disabled")
    auth_version = Integer(default=1, help_text="Bumped to end every session of the account")
    created_at = Timestamptz()
    activated_at = Timestamptz(null=True, default=None)
    last_login_at = Timestamptz(null=True, default=None)


class AccountPayer(Table, tablename="account_payer"):
    """Which payers' invoices an account sees."""

    id: Serial  # added by Piccolo; declared for the type checker

    account = ForeignKey(Account, on_delete=OnDelete.cascade, null=False)
    payer = ForeignKey(Payer, on_delete=OnDelete.cascade, null=False)


class AccountToken(Table, tablename="account_token"):
    """A single-use link token (activation, reset, e-mail change); only its hash is stored."""

    id: Serial  # added by Piccolo; declared for the type checker

    account = ForeignKey(Account, on_delete=OnDelete.cascade, null=False)
    purpose = Varchar(length=16)
    token_hash = Varchar(length=64, unique=True)
    new_email = Varchar(length=254, default="")
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class WebSession(Table, tablename="web_session"):
    """A logged-in browser; the cookie holds a random id, the table its hash."""

    id: Serial  # added by Piccolo; declared for the type checker

    id_hash = Varchar(length=64, unique=True)
    account = ForeignKey(Account, on_delete=OnDelete.cascade, null=False)
    auth_version = Integer()
    persistent = Boolean(default=False)
    created_at = Timestamptz()
    expires_at = Timestamptz(index=True)
    # When the browser was last seen (written at most once a minute: see `sessions.signed_in`).
    last_seen_at = Timestamptz(null=True, default=None)
    user_agent = Varchar(length=200, default="", help_text="Shown in the account's session list")
    display_name = Varchar(
        length=200,
        default="",
        help_text="The header's name (a payer's), copied at login: no join on every page",
    )
