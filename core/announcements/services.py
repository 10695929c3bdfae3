"""Publishing news and the important message, and what a parent's home page shows of them.

The CLI (`portail news …`, `portail message …`) calls these functions; the agents' back office
will too. Texts are plain: templates escape them and split paragraphs on blank lines, so no
HTML from the database ever reaches a page.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from core.announcements.tables import IMPORTANT, NEWS, Announcement, MessageDismissal
from core.clock import now
from core.db import transaction
from core.i18n import t

TITLE_MAX_LENGTH = 200
BODY_MAX_LENGTH = 20_000
NEWS_ON_HOME = 20
"""The home page shows this many news items, newest first."""

_BLANK_LINES = re.compile(r"\n\s*\n")


class AnnouncementError(ValueError):
    """A text that cannot be published (empty, too long); the message (French) is for the agent."""


@dataclass(frozen=True)
class Shown:
    """An announcement as a page shows it."""

    id: int
    title: str
    paragraphs: list[str]
    published_at: dt.datetime
    updated_at: dt.datetime
    version: int


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, trimmed; line breaks inside one stay (CSS shows them)."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p.strip() for p in _BLANK_LINES.split(normalised) if p.strip()]


def _clean(title: str, body: str, *, title_required: bool) -> tuple[str, str]:
    title = " ".join(title.split())
    body = body.replace("\r\n", "\n").strip()
    if title_required and not title:
        raise AnnouncementError(t("announcements.title_missing"))
    if len(title) > TITLE_MAX_LENGTH:
        raise AnnouncementError(t("announcements.title_too_long", max=TITLE_MAX_LENGTH))
    if not body:
        raise AnnouncementError(t("announcements.body_missing"))
    if len(body) > BODY_MAX_LENGTH:
        raise AnnouncementError(t("announcements.body_too_long", max=BODY_MAX_LENGTH))
    return title, body


def _shown(row: dict) -> Shown:
    return Shown(
        id=row["id"],
        title=row["title"],
        paragraphs=paragraphs(row["body"]),
        published_at=row["published_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )


# --- News ------------------------------------------------------------------------------------


async def add_news(
    commune_id: int, title: str, body: str, *, published_at: dt.datetime | None = None
) -> int:
    """Publish a news item; returns its id."""
    title, body = _clean(title, body, title_required=True)
    moment = published_at or now()
    async with transaction():
        rows = await Announcement.insert(
            Announcement(
                commune=commune_id,
                kind=NEWS,
                title=title,
                body=body,
                published_at=moment,
                updated_at=now(),
                version=1,
            )
        ).returning(Announcement.id)
    return int(rows[0]["id"])


async def update_news(commune_id: int, news_id: int, title: str, body: str) -> bool:
    """Change a news item's text (its date stays); False when there is no such item."""
    title, body = _clean(title, body, title_required=True)
    async with transaction():
        rows = (
            await Announcement.update(
                {
                    Announcement.title: title,
                    Announcement.body: body,
                    Announcement.updated_at: now(),
                    Announcement.version: Announcement.version + 1,
                }
            )
            .where(_news(commune_id) & (Announcement.id == news_id))
            .returning(Announcement.id)
        )
    return bool(rows)


async def delete_news(commune_id: int, news_id: int) -> bool:
    async with transaction():
        rows = (
            await Announcement.delete()
            .where(_news(commune_id) & (Announcement.id == news_id))
            .returning(Announcement.id)
        )
    return bool(rows)


async def list_news(commune_id: int, limit: int | None = NEWS_ON_HOME) -> list[Shown]:
    """The commune's news, newest first."""
    query = (
        Announcement.select()
        .where(_news(commune_id))
        .order_by(Announcement.published_at, ascending=False)
        .order_by(Announcement.id, ascending=False)
    )
    if limit is not None:
        query = query.limit(limit)
    return [_shown(row) for row in await query]


def _news(commune_id: int):
    return (Announcement.commune == commune_id) & (Announcement.kind == NEWS)


# --- The important message -------------------------------------------------------------------


async def set_message(commune_id: int, body: str, title: str = "") -> Shown:
    """Publish the important message, or change it. A changed text gets a new version, so
    parents who closed the previous one see it again; the same text changes nothing."""
    title, body = _clean(title, body, title_required=False)
    async with transaction():
        current = await _important(commune_id)
        if current is None:
            moment = now()
            await Announcement.insert(
                Announcement(
                    commune=commune_id,
                    kind=IMPORTANT,
                    title=title,
                    body=body,
                    published_at=moment,
                    updated_at=moment,
                    version=1,
                )
            )
        elif (current["title"], current["body"]) != (title, body):
            await Announcement.update(
                {
                    Announcement.title: title,
                    Announcement.body: body,
                    Announcement.updated_at: now(),
                    Announcement.version: Announcement.version + 1,
                }
            ).where(Announcement.id == current["id"])
        row = await _important(commune_id)
    assert row is not None  # noqa: S101 (written just above, in this transaction)
    return _shown(row)


async def clear_message(commune_id: int) -> bool:
    """Withdraw the important message; False when there was none."""
    async with transaction():
        rows = (
            await Announcement.delete()
            .where((Announcement.commune == commune_id) & (Announcement.kind == IMPORTANT))
            .returning(Announcement.id)
        )
    return bool(rows)


async def current_message(commune_id: int) -> Shown | None:
    row = await _important(commune_id)
    return _shown(row) if row else None


async def message_for(commune_id: int, account_id: int) -> Shown | None:
    """The important message, unless this account closed it in its current version."""
    message = await current_message(commune_id)
    if message is None:
        return None
    closed = await MessageDismissal.exists().where(
        (MessageDismissal.account == account_id)
        & (MessageDismissal.announcement == message.id)
        & (MessageDismissal.version >= message.version)
    )
    return None if closed else message


async def dismiss(commune_id: int, account_id: int, message_id: int, version: int) -> bool:
    """Remember that the account closed `version` of the message; False if it is not the
    commune's important message (any more). A newer version than the parent saw stays shown."""
    async with transaction():
        message = await _important(commune_id)
        if message is None or message["id"] != message_id:
            return False
        version = max(1, min(version, message["version"]))
        await MessageDismissal.delete().where(
            (MessageDismissal.account == account_id) & (MessageDismissal.announcement == message_id)
        )
        await MessageDismissal.insert(
            MessageDismissal(
                account=account_id, announcement=message_id, version=version, dismissed_at=now()
            )
        )
    return True


async def _important(commune_id: int) -> dict | None:
    return (
        await Announcement.select()
        .where((Announcement.commune == commune_id) & (Announcement.kind == IMPORTANT))
        .order_by(Announcement.id, ascending=False)
        .first()
    )


async def home_context(commune_id: int, account_id: int) -> dict[str, Any]:
    """What the logged-in home page shows: the important message (if not closed) and news."""
    return {
        "important_message": await message_for(commune_id, account_id),
        "news": await list_news(commune_id),
    }
