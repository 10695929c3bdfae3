"""A real SMTP server on loopback that keeps what it receives: the demo mailbox and the tests.

with MailSink() as sink:  # port 0: any free port, see `sink.port`
    ...
    mail = sink.wait_for(lambda m: "Facture" in m.subject)
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

Predicate = Callable[["ReceivedMail"], bool]


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the sink received it, with its headers and bodies decoded."""

    sender: str
    recipients: list[str]
    subject: str
    text: str
    html: str
    received_at: datetime
    raw: bytes = field(default=b"", repr=False)

    def header(self, name: str) -> list[str]:
        """Every value of the header field `name` ([] when it has none), unfolded and without
        the surrounding spaces (a long value, such as a link, is folded onto a second line)."""
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        return [str(value).strip() for value in message.get_all(name, [])]


def parse_mail(sender: str, recipients: list[str], raw: bytes) -> ReceivedMail:
    """Decode a raw RFC 5322 message into a `ReceivedMail`."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return ReceivedMail(
        sender=sender,
        recipients=list(recipients),
        subject=str(message.get("subject", "")),
        text=_body(message, "plain"),
        html=_body(message, "html"),
        received_at=datetime.now(UTC),
        raw=raw,
    )


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return ""
    content = part.get_content()
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    return str(content).replace("\r\n", "\n")


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        self.sink._add(parse_mail(envelope.mail_from or "", list(envelope.rcpt_tos), raw))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's controller, able to bind port 0 and report the port it got."""

    def _create_server(self) -> Any:
        async def create() -> asyncio.AbstractServer:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


class MailSink:
    """An SMTP server in its own thread, storing every message it receives (thread-safe)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, max_messages: int = 1000) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be positive")
        self.host = host
        self.port = port
        self.max_messages = max_messages
        self._messages: list[ReceivedMail] = []
        self._changed = threading.Condition()
        self._controller: _Controller | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> MailSink:
        """Start listening; afterwards `port` is the actual port."""
        if self._controller is not None:
            raise RuntimeError("the mail sink is already running")
        controller = _Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname="localhost",  # skips a possibly slow getfqdn()
            ready_timeout=10.0,
        )
        controller.start()
        self._controller = controller
        self.port = controller.port
        return self

    def stop(self) -> None:
        """Stop listening (the messages stay available)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- messages ----------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of the received messages, oldest first."""
        with self._changed:
            return list(self._messages)

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()

    def _add(self, mail: ReceivedMail) -> None:
        with self._changed:
            self._messages.append(mail)
            del self._messages[: -self.max_messages]
            self._changed.notify_all()

    def _find(self, predicate: Predicate | None) -> ReceivedMail | None:
        for mail in self._messages:
            if predicate is None or predicate(mail):
                return mail
        return None

    def wait_for(self, predicate: Predicate | None = None, timeout: float = 10.0) -> ReceivedMail:
        """The first message matching `predicate` (any message if None), waiting up to `timeout`
        seconds for it to arrive; raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (found := self._find(predicate)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching e-mail received within {timeout} s")
                self._changed.wait(remaining)
            return found

    async def await_for(
        self,
        predicate: Predicate | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - the same signature as wait_for()
        *,
        poll: float = 0.02,
    ) -> ReceivedMail:
        """`wait_for()` without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                found = self._find(predicate)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching e-mail received within {timeout} s")
            await asyncio.sleep(poll)
