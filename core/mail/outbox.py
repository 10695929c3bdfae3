"""Writing e-mails to the outbox, in the caller's transaction.

`enqueue()` only inserts a row: if it runs inside `async with transaction():`, the e-mail is
committed or rolled back together with the change that causes it. Delivery is the job of
`core.mail.sender.OutboxSender`, which `enqueue()` wakes up through `nudge_sender()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from core.mail.tables import OutboundEmail

SUBJECT_MAX_LENGTH = 300
RECIPIENT_MAX_LENGTH = 254
# A message's extra headers (`List-Unsubscribe`...): a field name as RFC 5322 allows (letters,
# digits, hyphens here), never one the sender writes itself; a value on one line of at most
# 998 characters, without any control character (a CR or LF would start a header of its own).
HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,75}")
HEADER_VALUE_MAX_LENGTH = 998
RESERVED_HEADERS = frozenset(
    {
        "bcc",
        "cc",
        "content-transfer-encoding",
        "content-type",
        "date",
        "from",
        "message-id",
        "mime-version",
        "reply-to",
        "return-path",
        "sender",
        "subject",
        "to",
    }
)
# C0 and C1 controls, and the Unicode line and paragraph separators (`str.splitlines` breaks
# there, and so may a header folder).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

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
    headers: Mapping[str, str] | None = None,
) -> None:
    """Store a pending e-mail, in the current transaction if there is one, and wake the sender.

    `expires_at`: when the message is no longer worth sending (the expiry of the link it
    carries); the sender then marks it expired instead. None (receipts, alerts): never.
    `headers`: extra header fields (see `encode_headers`); ValueError for an unsafe one.
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
            headers=encode_headers(headers),
        )
    )
    # Inside a transaction the row is not visible yet: the sender re-checks shortly after a
    # wake-up, and on SQLite its write transaction waits for ours to commit anyway.
    nudge_sender()


def encode_headers(headers: Mapping[str, str] | None) -> str:
    """Extra header fields as stored in `outbound_email.headers` (JSON; "" for none).

    ValueError for a name that is not a plain field name or that the sender writes itself
    (From, Subject...), and for a value with a control character (CR, LF...) or too long: a
    header can never smuggle another one in."""
    if not headers:
        return ""
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not HEADER_NAME.fullmatch(name) or name.lower() in RESERVED_HEADERS:
            raise ValueError(f"invalid e-mail header name: {name!r}")
        if not isinstance(value, str) or _CONTROL.search(value):
            raise ValueError(f"invalid value for the e-mail header {name}: {value!r}")
        if not value.strip() or len(value) > HEADER_VALUE_MAX_LENGTH:
            raise ValueError(f"empty or too long value for the e-mail header {name}")
        if any(known.lower() == name.lower() for known in checked):
            raise ValueError(f"e-mail header given twice: {name}")
        checked[name] = value
    return json.dumps(checked, ensure_ascii=False)


def decode_headers(stored: str) -> dict[str, str]:
    """The extra header fields of a stored message, checked again as `encode_headers` does."""
    if not stored:
        return {}
    headers = json.loads(stored)
    if not isinstance(headers, dict):
        raise ValueError("stored e-mail headers are not an object")
    encode_headers(headers)
    return headers


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
