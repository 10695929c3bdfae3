"""Messages parents write to the billing service from the "Contact" page."""

from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from core.accounts.tables import Account
from core.communes.tables import Commune


class ContactMessage(Table, tablename="contact_message"):
    id: Serial  # added by Piccolo; declared for the type checker
    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    account = ForeignKey(Account, on_delete=OnDelete.set_null, null=True)
    name = Varchar(length=200, help_text="As typed by the parent")
    email = Varchar(length=254, help_text="The address the parent asks to be answered at")
    body = Text()
    created_at = Timestamptz()
    read_at = Timestamptz(null=True, default=None, help_text="First opened in the back office")
    handled_at = Timestamptz(null=True, default=None, help_text="Answered or marked handled")
    handled_by = Integer(
        null=True,
        default=None,
        help_text="The agent's id (no foreign key: the agent table's app migrates after core)",
    )
