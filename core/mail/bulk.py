"""Many e-mails to the outbox at once (an import's alerts), in the caller's transaction.

`enqueue_many()` is `core.mail.outbox.enqueue()` for thousands of messages: the same checks and
the same row, written with one batched statement instead of one Piccolo insert per message,
and one wake-up of the sender at the end. Delivery is the background sender's job, so queueing
10,000 alerts costs the import a fraction of a second and never waits for SMTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from core import db_bulk
from core.mail.outbox import (
    RECIPIENT_MAX_LENGTH,
    SUBJECT_MAX_LENGTH,
    encode_headers,
    nudge_sender,
    one_line,
    utcnow,
)
from core.mail.render import RenderedEmail

COLUMNS = (
    "commune",
    "recipient",
    "subject",
    "body_text",
    "body_html",
    "status",
    "attempts",
    "created_at",
    "next_attempt_at",
    "sent_at",
    "last_error",
    "headers",
)


class EmailTemplate:
    """`core.mail.render.render_email(env, name, **context)` for many messages.

    The templates are looked up once (`render_email` looks for the optional HTML template at
    every call, which costs more than rendering a short text); the result is the same.
    """

    def __init__(self, env: jinja2.Environment, name: str) -> None:
        self.template = env.get_template(f"mail/{name}.txt")
        missing = {"subject", "body"} - set(self.template.blocks)
        if missing:
            raise ValueError(
                f"template mail/{name}.txt must define the blocks: {', '.join(sorted(missing))}"
            )
        try:
            self.html: jinja2.Template | None = env.get_template(f"mail/{name}.html")
        except jinja2.TemplateNotFound:
            self.html = None

    def render(self, **context: Any) -> RenderedEmail:
        template = self.template
        shared = template.new_context(context)  # as a whole render: one context, every block
        subject = "".join(template.blocks["subject"](shared))
        body = "".join(template.blocks["body"](shared))
        html = self.html.render(context) if self.html is not None else ""
        return RenderedEmail(subject=" ".join(subject.split()), text=body.strip() + "\n", html=html)


@dataclass(frozen=True)
class Message:
    recipient: str
    subject: str
    body_text: str
    body_html: str = ""
    headers: Mapping[str, str] | None = None
    """Extra header fields (`core.mail.outbox.encode_headers`)."""


async def enqueue_many(messages: Iterable[Message], *, commune_id: int | None = None) -> int:
    """Store every message as pending, inside the current transaction; returns how many.

    Must run inside `async with transaction():`. An invalid recipient raises ValueError before
    anything is written.
    """
    now = utcnow()
    rows = []
    for message in messages:
        recipient = message.recipient.strip()
        if (
            not recipient
            or any(c in recipient for c in "\r\n")
            or len(recipient) > RECIPIENT_MAX_LENGTH
        ):
            raise ValueError(f"invalid e-mail recipient: {recipient!r}")
        subject = one_line(message.subject)[:SUBJECT_MAX_LENGTH]
        rows.append(
            (
                commune_id,
                recipient,
                subject,
                message.body_text,
                message.body_html,
                "pending",
                0,
                now,
                now,
                None,
                "",
                encode_headers(message.headers),
            )
        )
    await db_bulk.insert_many("outbound_email", COLUMNS, rows)
    if rows:
        nudge_sender()
    return len(rows)
