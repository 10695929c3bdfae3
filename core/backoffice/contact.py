"""Messages des familles: the contact messages parents sent, as the back office reads and
answers them. Every query is scoped by the commune; another commune's message is not found.

Opening a message marks it read; answering it e-mails the reply to the address the parent gave
(through the outbox, in the transaction that stores the reply) and marks it handled. Answering
and marking handled are journalled (`contact.reply`, `contact.handled`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from core.backoffice import journal
from core.backoffice.identity import AgentInfo
from core.backoffice.tables import Agent, ContactReply
from core.clock import now
from core.communes.context import CommuneContext
from core.contact.tables import ContactMessage
from core.db import transaction
from core.i18n import t
from core.mail.mailer import Mailer
from core.web.forms import field_problem

REPLY_MAX_LENGTH = 10_000
MAX_PER_PAGE = 50


@dataclass(frozen=True)
class Message:
    id: int
    name: str
    email: str
    body: str
    created_at: dt.datetime
    read_at: dt.datetime | None
    handled_at: dt.datetime | None
    handled_by: int | None

    @property
    def unread(self) -> bool:
        return self.read_at is None

    @property
    def handled(self) -> bool:
        return self.handled_at is not None


@dataclass(frozen=True)
class Reply:
    body: str
    sent_at: dt.datetime
    agent_label: str


@dataclass(frozen=True)
class Thread:
    """A message, its replies (oldest first) and who handled it."""

    message: Message
    replies: list[Reply]
    handled_by_label: str = ""


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = MAX_PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _scope(commune_id: int, *, not_handled: bool = False) -> Any:
    """The one filter of every query: the commune's messages (those not handled)."""
    where: Any = ContactMessage.commune == commune_id
    if not_handled:
        where &= ContactMessage.handled_at.is_null()
    return where


def _message(row: dict[str, Any]) -> Message:
    return Message(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        body=row["body"],
        created_at=row["created_at"],
        read_at=row["read_at"],
        handled_at=row["handled_at"],
        handled_by=row["handled_by"],
    )


async def list_messages(
    commune_id: int, *, not_handled: bool = False, page: int = 1, per_page: int = MAX_PER_PAGE
) -> MessagePage:
    """One page of the commune's messages, newest first."""
    page = max(1, page)
    per_page = min(max(1, per_page), MAX_PER_PAGE)
    where = _scope(commune_id, not_handled=not_handled)
    total = await ContactMessage.count().where(where)
    rows = (
        await ContactMessage.select()
        .where(where)
        .order_by(ContactMessage.created_at, ascending=False)
        .order_by(ContactMessage.id, ascending=False)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return MessagePage([_message(r) for r in rows], total=total, page=page, per_page=per_page)


async def count_not_handled(commune_id: int) -> int:
    """How many of the commune's messages wait for an answer (the dashboard's figure)."""
    return int(await ContactMessage.count().where(_scope(commune_id, not_handled=True)))


async def _row(commune_id: int, message_id: int) -> dict[str, Any] | None:
    return (
        await ContactMessage.select()
        .where(_scope(commune_id) & (ContactMessage.id == message_id))
        .first()
    )


async def open_message(commune_id: int, message_id: int) -> Thread | None:
    """The message and its thread, marked read the first time an agent opens it; None when
    the commune has no such message."""
    row = await _row(commune_id, message_id)
    if row is None:
        return None
    if row["read_at"] is None:
        row["read_at"] = now()
        await ContactMessage.update({ContactMessage.read_at: row["read_at"]}).where(
            (ContactMessage.id == message_id) & ContactMessage.read_at.is_null()
        )
    replies = (
        await ContactReply.select(
            ContactReply.body,
            ContactReply.sent_at,
            ContactReply.agent.display_name.as_alias("agent_name"),
            ContactReply.agent.email.as_alias("agent_email"),
        )
        .where(ContactReply.message == message_id)
        .order_by(ContactReply.sent_at)
        .order_by(ContactReply.id)
    )
    handled_by = ""
    if row["handled_by"] is not None:
        agent = (
            await Agent.select(Agent.display_name, Agent.email)
            .where(Agent.id == row["handled_by"])
            .first()
        )
        handled_by = (agent["display_name"] or agent["email"]) if agent else ""
    return Thread(
        message=_message(row),
        replies=[
            Reply(
                body=r["body"],
                sent_at=r["sent_at"],
                agent_label=r["agent_name"] or r["agent_email"] or "",
            )
            for r in replies
        ],
        handled_by_label=handled_by,
    )


def _target(row: dict[str, Any]) -> str:
    return t("contact.backoffice.target", id=row["id"], name=row["name"])


async def mark_handled(
    commune_id: int, message_id: int, agent: AgentInfo, client_ip: str = ""
) -> bool:
    """Mark the message handled (without an answer: the service called the family...); False
    when the commune has no such message. Handled already: nothing changes."""
    async with transaction():
        row = await _row(commune_id, message_id)
        if row is None:
            return False
        if row["handled_at"] is not None:
            return True
        await _set_handled(message_id, agent)
        await journal.record(
            "contact.handled",
            agent.actor(client_ip),
            commune_id=commune_id,
            target=_target(row),
            after={"handled": True},
        )
    return True


async def _set_handled(message_id: int, agent: AgentInfo) -> None:
    moment = now()
    await ContactMessage.update(
        {
            ContactMessage.handled_at: moment,
            ContactMessage.handled_by: agent.id,
            ContactMessage.read_at: moment,
        }
    ).where((ContactMessage.id == message_id) & ContactMessage.handled_at.is_null())
    # A message answered before being opened (from the list, say) is read too.
    await ContactMessage.update({ContactMessage.read_at: moment}).where(
        (ContactMessage.id == message_id) & ContactMessage.read_at.is_null()
    )


async def reply(
    commune: CommuneContext,
    message_id: int,
    raw_body: str,
    agent: AgentInfo,
    mailer: Mailer,
    client_ip: str = "",
) -> bool:
    """E-mail the answer to the address the parent gave, store it in the thread and mark the
    message handled, in one transaction (the e-mail goes through the outbox). False when the
    commune has no such message; `Problems` for an empty or oversized answer."""
    body = raw_body.replace("\r\n", "\n").strip()
    if not body:
        raise field_problem("reply", t("contact.backoffice.reply_missing"))
    if len(body) > REPLY_MAX_LENGTH:
        raise field_problem("reply", t("contact.backoffice.reply_too_long", max=REPLY_MAX_LENGTH))
    async with transaction():
        row = await _row(commune.id, message_id)
        if row is None:
            return False
        sent_at = now()
        await ContactReply.insert(
            ContactReply(message=message_id, agent=agent.id, body=body, sent_at=sent_at)
        )
        if row["handled_at"] is None:
            await _set_handled(message_id, agent)
        await mailer.send(
            commune,
            "contact_reply",
            row["email"],
            name=row["name"],
            reply=body,
            message=row["body"],
            message_sent_at=row["created_at"],
            contact_url=mailer.link(commune, "contact"),
        )
        await journal.record(
            "contact.reply",
            agent.actor(client_ip),
            commune_id=commune.id,
            target=_target(row),
            # Where it went, not what it said: the thread keeps the text.
            after={"to": row["email"]},
        )
    return True
