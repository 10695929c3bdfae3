"""Writing e-mails to the outbox, in the caller's transaction.

`enqueue()` only inserts a row: if it runs inside `async with transaction():`, the e-mail is
committed or rolled back together with the change that causes it. Delivery is the job of
`core.mail.sender.OutboxSender`, which `enqueue()` wakes up through `nudge_sender()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

from core.mail.tables import OutboundEmail

SUBJECT_MAX_LENGTH = 300
RECIPIENT_MAX_LENGTH = 254

# Senders waiting for a wake-up, each with the event loop its event belongs to. A plain
# module-level asyncio.Event would be bound to the first loop that waits on it.
_listeners: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
_listeners_lock = threading.Lock()


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


async def enqueue(
    recipient: str,
    subject: str,
    body_text: str,
    *,
    body_html: str = "",
    commune_id: int | None = None,
    expires_at: datetime | None = None,
) -> None:
    """Store a pending e-mail, in the current transaction if there is one, and wake the sender.

    `expires_at`: when the message is no longer worth sending (the expiry of the link it
    carries); the sender then marks it expired instead. None (receipts, alerts): never.
    """
    recipient = recipient.strip()
    if (
        not recipient
        or any(c in recipient for c in "\r\n")
        or len(recipient) > RECIPIENT_MAX_LENGTH
    ):
        raise ValueError(f"invalid e-mail recipient: {recipient!r}")
    now = utcnow()
    await OutboundEmail.insert(
        OutboundEmail(
            commune=commune_id,
            recipient=recipient,
            subject=one_line(subject)[:SUBJECT_MAX_LENGTH],
            body_text=body_text,
            body_html=body_html,
            status="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
            sent_at=None,
            last_error="",
            expires_at=expires_at,
        )
    )
    # Inside a transaction the row is not visible yet: the sender re-checks shortly after a
    # wake-up, and on SQLite its write transaction waits for ours to commit anyway.
    nudge_sender()


def one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(text.split())


def nudge_sender() -> None:
    """Wake up every running sender; harmless when none runs. Safe from any thread."""
    with _listeners_lock:
        listeners = list(_listeners)
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for loop, event in listeners:
        if loop is running:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(event.set)


@contextlib.contextmanager
def wakeups() -> Iterator[asyncio.Event]:
    """An event set by every `nudge_sender()` while the block runs (call from a running loop)."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    entry = (loop, event)
    with _listeners_lock:
        _listeners.add(entry)
    try:
        yield event
    finally:
        with _listeners_lock:
            _listeners.discard(entry)
