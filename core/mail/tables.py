"""The outbox: every e-mail is stored with the change that causes it, then delivered.

Once delivered (or expired), a message keeps its recipient, subject and dates for the record,
but not its bodies: a link in them must not stay readable at rest. See docs/security.md.
"""

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
    status = Varchar(
        length=16, default="pending", index=True, help_text="pending, sent, failed or expired"
    )
    attempts = Integer(default=0)
    created_at = Timestamptz()
    next_attempt_at = Timestamptz(index=True)
    sent_at = Timestamptz(null=True, default=None)
    last_error = Text(default="")
    # After this, the message is not worth sending (its link has expired): marked expired.
    expires_at = Timestamptz(null=True, default=None)
    # When an agent put it back to waiting after a failure: the give-up period starts again.
    requeued_at = Timestamptz(null=True, default=None)
    # Extra header fields (JSON object, "" for none), e.g. the news' List-Unsubscribe: see
    # `core.mail.outbox.encode_headers`. Blanked with the bodies: they may carry a link.
    headers = Text(default="")
