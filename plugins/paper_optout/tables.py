"""The paper opt-out plugin's own table (its Piccolo app: `plugins.paper_optout.piccolo_app`)."""

from piccolo.columns import Boolean, ForeignKey, OnDelete, Timestamptz
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table

# The core's `Account` table, found by name: no plugin module imports the accounts package.
ACCOUNT = LazyTableReference("Account", app_name="core")


class PaperPreference(Table, tablename="paper_preference"):
    """A parent's choice about paper invoices; no row means paper (the default).

    Kept when the plugin is switched off for the commune, so the billing service's record of
    requests does not depend on the configuration.
    """

    account = ForeignKey(ACCOUNT, on_delete=OnDelete.cascade, null=False, unique=True)
    paper_optout = Boolean(default=False, help_text="True: no paper invoices any more")
    changed_at = Timestamptz()
