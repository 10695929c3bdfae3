"""News alerts: the opt-in, the unsubscribe link, and sending a news item once.

The unsubscribe link works without logging in and stores nothing: its key is an HMAC of the
commune and the account with the portal's secret key, so it cannot be guessed for another
account, and it keeps working for every mail ever sent (unsubscribing twice changes nothing).

A news item is sent once: the sending locks the item's row, checks that no mailing is recorded,
queues every e-mail through the outbox (`enqueue_many`, one statement) and records the mailing,
all in one transaction; the unique index on `news_mailing.announcement` backs this up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from core.announcements.tables import NEWS, Announcement
from core.backoffice import journal
from core.backoffice.journal import Actor
from core.clock import now
from core.communes.context import CommuneContext
from core.db import transaction
from core.i18n import t
from core.invoices.alerts import alert_recipients
from core.mail.bulk import EmailTemplate, Message, enqueue_many
from core.mail.mailer import Mailer
from core.news_alerts.tables import NewsAlertSubscription, NewsMailing
from core.parents import lock_account

TEMPLATE = "news_alert"
UNSUBSCRIBE_PURPOSE = "news-unsubscribe"
# RFC 8058: a mail client unsubscribes in one click by POSTing this body to the link.
ONE_CLICK = "List-Unsubscribe=One-Click"


class NewsNotSendable(Exception):
    """The item is not one of the commune's published news (a draft, withdrawn, deleted)."""


@dataclass(frozen=True)
class Mailing:
    sent_at: dt.datetime
    recipients: int


@dataclass(frozen=True)
class Sending:
    """What "Envoyer par e-mail" did: `sent` False when the item had already been sent."""

    mailing: Mailing
    sent: bool


# --- The opt-in --------------------------------------------------------------------------------


async def is_subscribed(account_id: int) -> bool:
    return bool(
        await NewsAlertSubscription.exists().where(NewsAlertSubscription.account == account_id)
    )


async def set_subscription(account_id: int, wanted: bool) -> None:
    """Subscribe the account to the news by e-mail, or unsubscribe it (idempotent)."""
    async with transaction():
        await lock_account(account_id)  # two clicks at once leave one row
        await NewsAlertSubscription.delete().where(NewsAlertSubscription.account == account_id)
        if wanted:
            await NewsAlertSubscription.insert(
                NewsAlertSubscription(account=account_id, created_at=now())
            )


def unsubscribe_key(secret_key: str, commune_slug: str, account_id: int) -> str:
    message = f"{UNSUBSCRIBE_PURPOSE}:{commune_slug}:{account_id}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def unsubscribe_path(secret_key: str, commune_slug: str, account_id: int) -> str:
    """The path (under the commune's root) of the account's unsubscribe page."""
    key = unsubscribe_key(secret_key, commune_slug, account_id)
    return f"actualites/desabonnement/{account_id}/{key}"


def valid_key(secret_key: str, commune_slug: str, account_id: int, key: str) -> bool:
    expected = unsubscribe_key(secret_key, commune_slug, account_id)
    return key.isascii() and hmac.compare_digest(key, expected)


def unsubscribe_headers(unsubscribe_url: str) -> dict[str, str]:
    """The header fields of a news mail that let a mail client offer "Se désabonner" and
    unsubscribe with a POST, without a session (RFC 2369, RFC 8058): the signed link is the
    only authority. (The outbox refuses a value with CR/LF: no header can be smuggled in.)"""
    return {"List-Unsubscribe": f"<{unsubscribe_url}>", "List-Unsubscribe-Post": ONE_CLICK}


def _subscribers_of(commune_id: int) -> Any:
    """The condition selecting the subscriptions of the commune's active accounts."""
    return (NewsAlertSubscription.account.commune == commune_id) & (
        NewsAlertSubscription.account.state == "active"
    )


async def subscribed_accounts(commune_id: int) -> list[int]:
    """The commune's active accounts that asked for the news by e-mail."""
    rows = (
        await NewsAlertSubscription.select(NewsAlertSubscription.account)
        .where(_subscribers_of(commune_id))
        .order_by(NewsAlertSubscription.account)
    )
    return [int(row["account"]) for row in rows]


async def subscriber_count(commune_id: int) -> int:
    """How many accounts a sending would reach (the back office shows it before "Envoyer")."""
    return int(await NewsAlertSubscription.count().where(_subscribers_of(commune_id)))


# --- Sending a news item -----------------------------------------------------------------------


async def mailing_of(news_id: int) -> Mailing | None:
    row = (
        await NewsMailing.select(NewsMailing.sent_at, NewsMailing.recipients)
        .where(NewsMailing.announcement == news_id)
        .first()
    )
    return Mailing(sent_at=row["sent_at"], recipients=row["recipients"]) if row else None


async def send_news(
    commune: CommuneContext, news_id: int, mailer: Mailer, secret_key: str, actor: Actor
) -> Sending:
    """E-mail a published news item to every address of the subscribed accounts (the account's
    own and its confirmed alert addresses), once; `NewsNotSendable` for anything else."""
    async with transaction():
        # A no-op write locks the item: a second click waits, then finds the mailing.
        rows = (
            await Announcement.update({Announcement.version: Announcement.version})
            .where(
                (Announcement.id == news_id)
                & (Announcement.commune == commune.id)
                & (Announcement.kind == NEWS)
                & (Announcement.published == True)  # noqa: E712 - a SQL comparison
            )
            .returning(Announcement.title, Announcement.body, Announcement.published_at)
        )
        if not rows:
            raise NewsNotSendable
        already = await mailing_of(news_id)
        if already is not None:
            return Sending(mailing=already, sent=False)
        news = rows[0]
        recipients = await alert_recipients(await subscribed_accounts(commune.id))
        template = EmailTemplate(mailer.env, TEMPLATE)
        messages: list[Message] = []
        for account_id, addresses in sorted(recipients.items()):
            unsubscribe_link = mailer.link(
                commune, unsubscribe_path(secret_key, commune.slug, account_id)
            )
            email = template.render(
                commune=commune.config,
                base_url=mailer.base_url,
                title=news["title"],
                body=news["body"],
                published_at=news["published_at"],
                link=mailer.link(commune, ""),
                unsubscribe_link=unsubscribe_link,
            )
            headers = unsubscribe_headers(unsubscribe_link)
            messages.extend(
                Message(address, email.subject, email.text, email.html, headers)
                for address in addresses
            )
        count = await enqueue_many(messages, commune_id=commune.id)
        mailing = Mailing(sent_at=now(), recipients=count)
        await NewsMailing.insert(
            NewsMailing(announcement=news_id, sent_at=mailing.sent_at, recipients=count)
        )
        await journal.record(
            "news.email",
            actor,
            commune_id=commune.id,
            target=t("announcements.journal.news", id=news_id, title=news["title"]),
            after={"recipients": count, "accounts": len(recipients)},
        )
    return Sending(mailing=mailing, sent=True)
