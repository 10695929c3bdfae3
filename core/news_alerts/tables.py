"""Who wants the commune's news by e-mail, and which news items were sent.

Both tables have a unique index (migration `core_2026_11_28_0020_news_alerts`): one
subscription per account, one mailing per news item, so a second "Envoyer" sends nothing.
"""

from piccolo.columns import ForeignKey, Integer, OnDelete, Serial, Timestamptz
from piccolo.table import Table

from core.accounts.tables import Account
from core.announcements.tables import Announcement


class NewsAlertSubscription(Table, tablename="news_alert_subscription"):
    """An account whose addresses receive the news the commune sends by e-mail."""

    id: Serial  # added by Piccolo; declared for the type checker

    account = ForeignKey(Account, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz()


class NewsMailing(Table, tablename="news_mailing"):
    """A news item sent by e-mail: when, and to how many addresses."""

    id: Serial  # added by Piccolo; declared for the type checker

    announcement = ForeignKey(Announcement, on_delete=OnDelete.cascade, null=False)
    sent_at = Timestamptz()
    recipients = Integer(default=0)
