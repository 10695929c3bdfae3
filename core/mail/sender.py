"""Delivering the outbox over SMTP, with retries, from a background task.

Each round claims a batch of due messages in a short write transaction (a five-minute lease on
`next_attempt_at`, and `FOR UPDATE SKIP LOCKED` on PostgreSQL), so several senders, even in
several processes, never send the same message twice while they run. Messages are then sent
one by one in a worker thread; a failure schedules the next attempt with exponential backoff
(capped at one hour), for `settings.outbox_give_up_days` days, after which the message is marked
failed (`portail outbox retry --failed` puts it back). A message whose `expires_at` has passed
(its link is no longer valid) is marked expired instead of being sent. A sent or expired
message keeps no body: the UPDATE that marks it blanks its text, HTML and extra headers (the
news' List-Unsubscribe carries a link).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

import emails
from emails.backend.smtp import SMTPBackend

from core import db
from core.mail.outbox import decode_headers, utcnow, wakeups
from core.mail.tables import OutboundEmail
from core.settings import Settings

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
RECHECK_DELAY = 0.2  # seconds: a second look after a wake-up, once the enqueuer has committed
SMTP_TIMEOUT = 30.0
ERROR_MAX_LENGTH = 2000


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt (1 → 30 s, 2 → 1 min, …, ≤ 1 h)."""
    exponent = max(attempts - 1, 0)
    if exponent >= 20:  # already far past the cap; avoid huge numbers
        return RETRY_CAP
    return min(RETRY_BASE * 2**exponent, RETRY_CAP)


@dataclass(frozen=True)
class _Claimed:
    id: int
    recipient: str
    subject: str
    body_text: str
    body_html: str
    attempts: int
    created_at: datetime
    requeued_at: datetime | None
    headers: str

    @property
    def retrying_since(self) -> datetime:
        """Where the give-up period starts: queued, or put back to waiting by an agent."""
        return self.requeued_at or self.created_at


class SendError(Exception):
    """The SMTP server did not accept a message."""


class OutboxSender:
    """Delivers the pending rows of `OutboundEmail` through the SMTP server of `settings`."""

    def __init__(
        self, settings: Settings, *, max_attempts: int | None = None, batch_size: int = 50
    ) -> None:
        """`max_attempts`: an optional limit on the attempts too (by default only the
        give-up period of `settings.outbox_give_up_days` counts)."""
        if (max_attempts is not None and max_attempts < 1) or batch_size < 1:
            raise ValueError("max_attempts and batch_size must be positive")
        self.settings = settings
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.give_up_after = timedelta(days=settings.outbox_give_up_days)

    # -- one round ---------------------------------------------------------------------------

    async def deliver_due(self, now: datetime | None = None) -> int:
        """Claim and send the messages due at `now` (default: the current time); return how
        many were sent. Must not run inside a transaction: mail goes out only once committed."""
        engine = db.current_engine()
        if engine.transaction_exists():
            raise RuntimeError("deliver_due() must not run inside a database transaction")
        now = now or utcnow()
        if now.tzinfo is None:
            raise ValueError("deliver_due(now=...) needs a timezone-aware datetime")
        claimed = await self._claim(now)
        if not claimed:
            return 0
        sent = 0
        backend = self._backend()
        try:
            for index, message in enumerate(claimed):
                try:
                    await asyncio.to_thread(self._send, backend, message)
                except Exception as exc:
                    error = _describe(exc)
                    logger.warning(
                        "E-mail %s to %s not sent (attempt %s): %s",
                        message.id,
                        message.recipient,
                        message.attempts + 1,
                        error,
                    )
                    if _is_connection_error(exc):
                        # The server is unreachable: the rest of the batch would fail the same
                        # way, each after a timeout. Count the attempt for all of them.
                        for other in claimed[index:]:
                            await self._record_failure(other, error, now)
                        break
                    await self._record_failure(message, error, now)
                else:
                    await self._record_success(message)
                    sent += 1
        finally:
            await asyncio.to_thread(_close_quietly, backend)
        if sent:
            logger.info("Sent %s e-mail(s) from the outbox", sent)
        return sent

    async def _claim(self, now: datetime) -> list[_Claimed]:
        """Take a lease on up to `batch_size` due messages, in one short write transaction."""
        engine = db.current_engine()
        async with engine.transaction():
            await _expire(now)
            query = (
                OutboundEmail.select(
                    OutboundEmail.id,
                    OutboundEmail.recipient,
                    OutboundEmail.subject,
                    OutboundEmail.body_text,
                    OutboundEmail.body_html,
                    OutboundEmail.attempts,
                    OutboundEmail.created_at,
                    OutboundEmail.requeued_at,
                    OutboundEmail.headers,
                )
                .where((OutboundEmail.status == "pending") & (OutboundEmail.next_attempt_at <= now))
                .order_by(OutboundEmail.id)
                .limit(self.batch_size)
            )
            if engine.engine_type == "postgres":
                # SQLite has no row locks, but its transactions are IMMEDIATE (one writer).
                query = query.lock_rows("UPDATE", skip_locked=True, of=(OutboundEmail,))
            rows = await query
            if not rows:
                return []
            await OutboundEmail.update({OutboundEmail.next_attempt_at: now + LEASE}).where(
                OutboundEmail.id.is_in([row["id"] for row in rows])
            )
        return [_Claimed(**row) for row in rows]

    async def _record_success(self, message: _Claimed) -> None:
        await OutboundEmail.update(
            {
                OutboundEmail.status: "sent",
                OutboundEmail.sent_at: utcnow(),
                # The message went out: no copy of its links stays at rest.
                OutboundEmail.body_text: "",
                OutboundEmail.body_html: "",
                OutboundEmail.headers: "",
                OutboundEmail.attempts: message.attempts + 1,
                OutboundEmail.last_error: "",
            }
        ).where(OutboundEmail.id == message.id)

    async def _record_failure(self, message: _Claimed, error: str, now: datetime) -> None:
        attempts = message.attempts + 1
        current = max(now, utcnow())
        values: dict[Any, Any] = {
            OutboundEmail.attempts: attempts,
            OutboundEmail.last_error: error[:ERROR_MAX_LENGTH],
        }
        too_many = self.max_attempts is not None and attempts >= self.max_attempts
        if too_many or current >= message.retrying_since + self.give_up_after:
            values[OutboundEmail.status] = "failed"
            logger.error(
                "E-mail %s to %s failed %s times since %s; giving up",
                message.id,
                message.recipient,
                attempts,
                message.retrying_since.isoformat(),
            )
        else:
            values[OutboundEmail.next_attempt_at] = current + retry_delay(attempts)
        await OutboundEmail.update(values).where(OutboundEmail.id == message.id)

    # -- background loop ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver the outbox until `stop` is set: at every wake-up from `enqueue()`, and every
        `settings.outbox_interval` seconds otherwise. Errors are logged, never raised."""
        interval = max(self.settings.outbox_interval, 0.01)
        logger.info(
            "Outbox sender started (SMTP %s:%s)", self.settings.smtp_host, self.settings.smtp_port
        )
        with wakeups() as wake:
            recheck = False
            while not stop.is_set():
                try:
                    sent = await self.deliver_due()
                except Exception:
                    logger.exception("Outbox delivery round failed; trying again later")
                    sent = 0
                if sent >= self.batch_size:
                    continue  # more may be due right now
                woken = await _sleep(stop, wake, RECHECK_DELAY if recheck else interval)
                # After a wake-up, look once more a moment later: the enqueuing transaction
                # may not have committed when it nudged us.
                recheck = woken
        logger.info("Outbox sender stopped")

    # -- SMTP (in a worker thread) -----------------------------------------------------------

    def _backend(self) -> SMTPBackend:
        """One SMTP connection for a batch (opened lazily by the first send)."""
        s = self.settings
        options: dict[str, Any] = {
            "host": s.smtp_host,
            "port": s.smtp_port,
            "timeout": SMTP_TIMEOUT,
            "ssl": s.smtp_ssl,
            "tls": s.smtp_starttls,
            "fail_silently": True,
        }
        if s.smtp_user:
            options["user"] = s.smtp_user
            options["password"] = s.smtp_password
        return SMTPBackend(**options)

    def _message_id(self, message: _Claimed) -> str:
        """The same Message-ID at every attempt, so a duplicate delivery can be recognised."""
        domain = parseaddr(self.settings.mail_from)[1].rpartition("@")[2] or "localhost"
        return f"<{message.created_at:%Y%m%d%H%M%S%f}.{message.id}.outbox@{domain}>"

    def _send(self, backend: SMTPBackend, message: _Claimed) -> None:
        """Send one message; raise if the server did not accept it."""
        mail = emails.Message(
            charset="utf-8",
            subject=message.subject,
            text=message.body_text,
            html=message.body_html or None,
            mail_from=self.settings.mail_from,
            message_id=self._message_id(message),
            headers=decode_headers(message.headers) or None,
        )
        response = mail.send(to=message.recipient, smtp=backend)
        if response is None:
            raise SendError("no recipient")
        if response.error is not None:
            raise response.error
        if not response.success or response.status_code != 250:
            raise SendError(f"SMTP status {response.status_code}: {response.status_text!r}")


async def _expire(now: datetime) -> None:
    """Mark expired (and blank) the waiting messages whose link has expired at `now`."""
    expired = (
        await OutboundEmail.update(
            {
                OutboundEmail.status: "expired",
                OutboundEmail.body_text: "",
                OutboundEmail.body_html: "",
                OutboundEmail.headers: "",
            }
        )
        .where(
            (OutboundEmail.status == "pending")
            & OutboundEmail.expires_at.is_not_null()
            & (OutboundEmail.expires_at <= now)
        )
        .returning(OutboundEmail.id, OutboundEmail.recipient)
    )
    for row in expired:
        logger.warning(
            "E-mail %s to %s expired before it could be sent", row["id"], row["recipient"]
        )


async def _sleep(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> bool:
    """Wait until `stop` or `wake` is set or `seconds` pass; True if woken (and clear it)."""
    if not stop.is_set() and not wake.is_set():
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
    woken = wake.is_set()
    wake.clear()
    return woken and not stop.is_set()


def _close_quietly(backend: SMTPBackend) -> None:
    with contextlib.suppress(Exception):
        backend.close()


def _is_connection_error(exc: Exception) -> bool:
    """Whether the server could not be reached at all (smtplib errors are OSErrors too)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def _describe(exc: Exception) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"
