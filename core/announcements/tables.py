"""What a commune publishes for its parents: news and one important message.

An important message is one row of kind `important` per commune at most; changing its text
bumps `version`, so parents who closed the previous text see the new one. Clearing it deletes
the row (and the dismissals with it). Parents see only `published` rows: the back office keeps
drafts and withdrawn texts; the command line publishes directly.
"""

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

from core.accounts.tables import Account
from core.communes.tables import Commune

NEWS = "news"
IMPORTANT = "important"
KINDS = (NEWS, IMPORTANT)


class Announcement(Table, tablename="announcement"):
    id: Serial  # added by Piccolo; declared for the type checker
    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    kind = Varchar(length=16, default=NEWS, help_text="news or important")
    title = Varchar(length=200, default="")
    body = Text(default="", help_text="Plain text; blank lines separate paragraphs")
    published_at = Timestamptz()
    updated_at = Timestamptz()
    version = Integer(default=1, help_text="Bumped when the text changes")
    published = Boolean(default=True, help_text="Parents see it (False: a draft, or withdrawn)")


class MessageDismissal(Table, tablename="message_dismissal"):
    """A parent closed an important message, in the version they saw."""

    id: Serial  # added by Piccolo; declared for the type checker

    account = ForeignKey(Account, on_delete=OnDelete.cascade, null=False)
    announcement = ForeignKey(Announcement, on_delete=OnDelete.cascade, null=False)
    version = Integer()
    dismissed_at = Timestamptz()
