"""The paper opt-out plugin's own table (its Piccolo app: `plugins.paper_optout.piccolo_app`)."""

from typing import Any

from piccolo.columns import Boolean, ForeignKey, OnDelete, Serial, Timestamptz
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table

# The core's `Account` table, found by name: no plugin module imports the accounts package.
ACCOUNT = LazyTableReference("Account", app_name="core")


class PaperPreference(Table, tablename="paper_preference"):
    """A parent's choice about paper invoices; no row means paper (the default).

    Kept when the plugin is switched off for the commune, so the billing service's record of
    requests does not depend on the configuration.
    """

    id: Serial  # added by Piccolo; declared for the type checker

    account: ForeignKey[Any] = ForeignKey(
        ACCOUNT, on_delete=OnDelete.cascade, null=False, unique=True
    )
    paper_optout = Boolean(default=False, help_text="True: no paper invoices any more")
    changed_at = Timestamptz()
