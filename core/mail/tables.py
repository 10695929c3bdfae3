"""The outbox: every e-mail is stored with the change that causes it, then delivered."""

from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from core.communes.tables import Commune


class OutboundEmail(Table, tablename="outbound_email"):
    id: Serial  # added by Piccolo; declared for the type checker
    commune = ForeignKey(Commune, on_delete=OnDelete.set_null, null=True)
    recipient = Varchar(length=254)
    subject = Varchar(length=300)
    body_text = Text()
    body_html = Text(default="")
    status = Varchar(length=16, default="pending", index=True, help_text="pending, sent or failed")
    attempts = Integer(default=0)
    created_at = Timestamptz()
    next_attempt_at = Timestamptz(index=True)
    sent_at = Timestamptz(null=True, default=None)
    last_error = Text(default="")
