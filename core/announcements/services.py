"""Publishing news and the important message, and what a parent's home page shows of them.

The CLI (`portail news …`, `portail message …`) publishes directly; the agents' back office
writes drafts, previews, publishes and withdraws, and passes its agent as the journal's actor
(each change is journalled in its own transaction). Texts are plain: the `rich_text` filter
escapes them, splits paragraphs on blank lines and links http(s) URLs, so no HTML from the
database ever reaches a page. Parents see only published rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from core.announcements.tables import IMPORTANT, NEWS, Announcement, MessageDismissal
from core.backoffice import journal
from core.backoffice.journal import Actor
from core.clock import now
from core.db import transaction
from core.i18n import t
from core.web.formatting import split_paragraphs

TITLE_MAX_LENGTH = 200
BODY_MAX_LENGTH = 20_000
NEWS_ON_HOME = 20
"""The home page shows this many news items, newest first."""
NEWS_ON_LOGIN = 5
"""The login page shows fewer: the form comes first."""

MAX_PER_PAGE = 50


class AnnouncementError(ValueError):
    """A text that cannot be published (empty, too long); the message (French) is for the agent,
    `field` names the form field at fault ("title" or "body")."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Shown:
    """An announcement as a page shows it."""

    id: int
    title: str
    paragraphs: list[str]
    published_at: dt.datetime
    updated_at: dt.datetime
    version: int
    body: str = ""
    published: bool = True


@dataclass(frozen=True)
class NewsPage:
    """One page of a commune's news for the back office, drafts included, newest first."""

    items: list[Shown] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = MAX_PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, trimmed; line breaks inside one stay (CSS shows them)."""
    return split_paragraphs(text)


def check(title: str, body: str, *, title_required: bool) -> tuple[str, str]:
    """The title and text as they would be saved; `AnnouncementError` when they cannot be
    (the back office's preview shows the same errors as saving)."""
    return _clean(title, body, title_required=title_required)


def _clean(title: str, body: str, *, title_required: bool) -> tuple[str, str]:
    title = " ".join(title.split())
    body = body.replace("\r\n", "\n").strip()
    if title_required and not title:
        raise AnnouncementError(t("announcements.title_missing"), "title")
    if len(title) > TITLE_MAX_LENGTH:
        raise AnnouncementError(t("announcements.title_too_long", max=TITLE_MAX_LENGTH), "title")
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
        body=row["body"],
        published=bool(row["published"]),
    )


async def _journal(
    actor: Actor | None, action: str, commune_id: int, target: str, **change: Any
) -> None:
    """Journal a change made from the back office (the command line passes no actor)."""
    if actor is not None:
        await journal.record(action, actor, commune_id=commune_id, target=target, **change)


def _news_target(news_id: int, title: str) -> str:
    return t("announcements.journal.news", id=news_id, title=title)


def _text(title: str, body: str) -> dict[str, str]:
    return {"title": title, "body": body}


# --- News ------------------------------------------------------------------------------------


async def add_news(
    commune_id: int,
    title: str,
    body: str,
    *,
    published_at: dt.datetime | None = None,
    publish: bool = True,
    actor: Actor | None = None,
) -> int:
    """Add a news item, published (the command line) or as a draft; returns its id."""
    title, body = _clean(title, body, title_required=True)
    async with transaction():
        rows = await Announcement.insert(
            Announcement(
                commune=commune_id,
                kind=NEWS,
                title=title,
                body=body,
                published_at=published_at or now(),
                updated_at=now(),
                version=1,
                published=publish,
            )
        ).returning(Announcement.id)
        news_id = int(rows[0]["id"])
        after = {**_text(title, body), "published": publish}
        await _journal(actor, "news.create", commune_id, _news_target(news_id, title), after=after)
    return news_id


async def update_news(
    commune_id: int, news_id: int, title: str, body: str, actor: Actor | None = None
) -> bool:
    """Change a news item's text (its date and state stay); False when there is no such item."""
    title, body = _clean(title, body, title_required=True)
    async with transaction():
        current = await _news_row(commune_id, news_id)
        if current is None:
            return False
        if (current["title"], current["body"]) == (title, body):
            return True
        await Announcement.update(
            {
                Announcement.title: title,
                Announcement.body: body,
                Announcement.updated_at: now(),
                Announcement.version: Announcement.version + 1,
            }
        ).where(Announcement.id == news_id)
        await _journal(
            actor,
            "news.update",
            commune_id,
            _news_target(news_id, title),
            before=_text(current["title"], current["body"]),
            after=_text(title, body),
        )
    return True


async def set_news_published(
    commune_id: int, news_id: int, published: bool, actor: Actor | None = None
) -> bool:
    """Publish a news item (dated now: it comes first on the home page) or withdraw it; False
    when there is no such item. Publishing a published item changes nothing."""
    async with transaction():
        current = await _news_row(commune_id, news_id)
        if current is None:
            return False
        if bool(current["published"]) == published:
            return True
        changes: dict[Any, Any] = {Announcement.published: published}
        if published:
            changes[Announcement.published_at] = now()
        await Announcement.update(changes).where(Announcement.id == news_id)
        await _journal(
            actor,
            "news.publish" if published else "news.unpublish",
            commune_id,
            _news_target(news_id, current["title"]),
            before={"published": not published},
            after={"published": published},
        )
    return True


async def delete_news(commune_id: int, news_id: int, actor: Actor | None = None) -> bool:
    async with transaction():
        current = await _news_row(commune_id, news_id)
        if current is None:
            return False
        await Announcement.delete().where(Announcement.id == news_id)
        await _journal(
            actor,
            "news.delete",
            commune_id,
            _news_target(news_id, current["title"]),
            before={**_text(current["title"], current["body"]), "published": current["published"]},
        )
    return True


async def list_news(
    commune_id: int, limit: int | None = NEWS_ON_HOME, *, drafts: bool = False
) -> list[Shown]:
    """The commune's published news (with `drafts`, every item), newest first."""
    where = _news(commune_id)
    if not drafts:
        where &= Announcement.published == True  # noqa: E712 - a SQL comparison
    query = Announcement.select().where(where).order_by(Announcement.published_at, ascending=False)
    query = query.order_by(Announcement.id, ascending=False)
    if limit is not None:
        query = query.limit(limit)
    return [_shown(row) for row in await query]


async def news_page(commune_id: int, page: int = 1, per_page: int = MAX_PER_PAGE) -> NewsPage:
    """One page of the commune's news, drafts included, newest first (for the back office)."""
    page = max(1, page)
    per_page = min(max(1, per_page), MAX_PER_PAGE)
    total = await Announcement.count().where(_news(commune_id))
    rows = (
        await Announcement.select()
        .where(_news(commune_id))
        .order_by(Announcement.published_at, ascending=False)
        .order_by(Announcement.id, ascending=False)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return NewsPage(items=[_shown(r) for r in rows], total=total, page=page, per_page=per_page)


async def get_news(commune_id: int, news_id: int) -> Shown | None:
    """One of the commune's news items, draft or published; None for another commune's."""
    row = await _news_row(commune_id, news_id)
    return _shown(row) if row else None


async def _news_row(commune_id: int, news_id: int) -> dict[str, Any] | None:
    return (
        await Announcement.select().where(_news(commune_id) & (Announcement.id == news_id)).first()
    )


def _news(commune_id: int) -> Any:
    """The condition selecting the commune's news (a Piccolo `Where` combination)."""
    return (Announcement.commune == commune_id) & (Announcement.kind == NEWS)


# --- The important message -------------------------------------------------------------------

MESSAGE_TARGET = "announcements.journal.message"


async def set_message(
    commune_id: int,
    body: str,
    title: str = "",
    *,
    publish: bool | None = True,
    actor: Actor | None = None,
) -> Shown:
    """Write the important message: `publish=True` (the command line) publishes it too;
    `publish=None` (the back office's "Enregistrer") keeps its state, a new one being a draft.
    A changed text gets a new version, so parents who closed the previous one see it again;
    the same text changes nothing."""
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
                    published=bool(publish),
                )
            )
            await _journal(
                actor,
                "announcements.create",
                commune_id,
                t(MESSAGE_TARGET),
                after=_text(title, body),
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
            await _journal(
                actor,
                "announcements.update",
                commune_id,
                t(MESSAGE_TARGET),
                before=_text(current["title"], current["body"]),
                after=_text(title, body),
            )
        if current is not None and publish and not current["published"]:
            await _publish_message(commune_id, current, True, actor)
        row = await _important(commune_id)
    assert row is not None  # noqa: S101 (written just above, in this transaction)
    return _shown(row)


async def set_message_published(
    commune_id: int, published: bool, actor: Actor | None = None
) -> bool:
    """Publish the important message or withdraw it (kept, for the back office to publish again);
    False when there is none. Published again, it is a new version: shown even to parents who
    had closed it."""
    async with transaction():
        current = await _important(commune_id)
        if current is None:
            return False
        if bool(current["published"]) != published:
            await _publish_message(commune_id, current, published, actor)
    return True


async def _publish_message(
    commune_id: int, current: dict[str, Any], published: bool, actor: Actor | None
) -> None:
    changes: dict[Any, Any] = {Announcement.published: published}
    if published:
        changes[Announcement.published_at] = now()
        changes[Announcement.version] = Announcement.version + 1
    await Announcement.update(changes).where(Announcement.id == current["id"])
    await _journal(
        actor,
        "announcements.publish" if published else "announcements.unpublish",
        commune_id,
        t(MESSAGE_TARGET),
        before={"published": not published},
        after={"published": published},
    )


async def clear_message(commune_id: int, actor: Actor | None = None) -> bool:
    """Delete the important message (and who closed it); False when there was none."""
    async with transaction():
        current = await _important(commune_id)
        if current is None:
            return False
        await Announcement.delete().where(Announcement.id == current["id"])
        await _journal(
            actor,
            "announcements.delete",
            commune_id,
            t(MESSAGE_TARGET),
            before={**_text(current["title"], current["body"]), "published": current["published"]},
        )
    return True


async def current_message(commune_id: int) -> Shown | None:
    """The important message, published or not (the back office and the command line)."""
    row = await _important(commune_id)
    return _shown(row) if row else None


async def message_for(commune_id: int, account_id: int) -> Shown | None:
    """The published important message, unless this account closed it in its current version."""
    message = await current_message(commune_id)
    if message is None or not message.published:
        return None
    closed = await MessageDismissal.exists().where(
        (MessageDismissal.account == account_id)
        & (MessageDismissal.announcement == message.id)
        & (MessageDismissal.version >= message.version)
    )
    return None if closed else message


async def dismiss(commune_id: int, account_id: int, message_id: int, version: int) -> bool:
    """Remember that the account closed `version` of the message; False if it is not the
    commune's published important message (any more). A newer version than the parent saw
    stays shown."""
    async with transaction():
        message = await _important(commune_id)
        if message is None or message["id"] != message_id or not message["published"]:
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


async def _important(commune_id: int) -> dict[str, Any] | None:
    return (
        await Announcement.select()
        .where((Announcement.commune == commune_id) & (Announcement.kind == IMPORTANT))
        .order_by(Announcement.id, ascending=False)
        .first()
    )


async def login_context(commune_id: int) -> dict[str, Any]:
    """What the login page shows beside the form (as Les Parents Services does): the published
    important message, which a visitor cannot close, and the news, newest first."""
    message = await current_message(commune_id)
    return {
        "public_message": message if message is not None and message.published else None,
        "news": await list_news(commune_id, NEWS_ON_LOGIN),
    }


async def home_context(commune_id: int, account_id: int) -> dict[str, Any]:
    """What the logged-in home page shows: the important message (if not closed) and news."""
    return {
        "important_message": await message_for(commune_id, account_id),
        "news": await list_news(commune_id),
    }
