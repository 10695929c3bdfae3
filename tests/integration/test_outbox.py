"""The e-mail outbox: stored with the change that causes it, delivered over real SMTP (aiosmtpd)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from core import db
from core.communes.tables import Commune
from core.mail.outbox import enqueue, utcnow
from core.mail.sender import OutboxSender, retry_delay
from core.mail.sink import MailSink
from core.mail.tables import OutboundEmail
from core.settings import Settings

SUBJECT = "Votre facture de février – école élémentaire"
BODY = "Bonjour Zoé,\n\nLa facture de cantine s’élève à 42,50 €.\nÀ bientôt ! çàéèêëîïôùû\n"


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    with MailSink() as running:
        yield running


@pytest.fixture
def mailbox(sink: MailSink) -> Iterator[MailSink]:
    sink.clear()
    yield sink
    sink.clear()


def settings_for(port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "debug": True,
        "secret_key": "test-secret-key-long-enough-for-32-chars",
        "mail_from": "Mairie de Test <mairie@example.org>",
    }
    values.update(overrides)
    return Settings(**values)


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def rows() -> list[dict[str, Any]]:
    return await OutboundEmail.select().order_by(OutboundEmail.id)


async def make_due_now() -> None:
    await OutboundEmail.update(
        {OutboundEmail.next_attempt_at: utcnow() - timedelta(seconds=1)}, force=True
    )


async def test_enqueued_mail_is_delivered_with_accents(
    clean_db: db.Engine, mailbox: MailSink
) -> None:
    await enqueue("parent@example.org", SUBJECT, BODY, body_html="<p>Zoé doit 42,50 €</p>")
    [row] = await rows()
    assert row["status"] == "pending"
    assert row["next_attempt_at"].tzinfo is not None

    sender = OutboxSender(settings_for(mailbox.port))
    assert await sender.deliver_due() == 1

    mail = mailbox.wait_for(lambda m: m.subject == SUBJECT, timeout=5)
    assert mail.recipients == ["parent@example.org"]
    assert mail.sender == "mairie@example.org"
    assert mail.text.strip() == BODY.strip()
    assert "Zoé doit 42,50 €" in mail.html
    assert f".{row['id']}.outbox@example.org>" in mail.raw.decode("ascii")
    [row] = await rows()
    assert row["status"] == "sent"
    assert row["sent_at"] is not None
    assert row["attempts"] == 1
    assert await sender.deliver_due() == 0
    assert len(mailbox.messages) == 1


async def test_text_only_mail_has_no_html_part(clean_db: db.Engine, mailbox: MailSink) -> None:
    await enqueue("parent@example.org", "Texte seul", "Écrit en clair.")
    assert await OutboxSender(settings_for(mailbox.port)).deliver_due() == 1
    mail = await mailbox.await_for(timeout=5)
    assert mail.text.strip() == "Écrit en clair."
    assert mail.html == ""


async def test_mail_commits_with_the_change_that_causes_it(
    clean_db: db.Engine, mailbox: MailSink
) -> None:
    async with db.transaction():
        commune = Commune(slug="test", name="Testville")
        await commune.save()
        await enqueue("parent@example.org", "Bienvenue", "Bonjour", commune_id=commune.id)
    [row] = await rows()
    assert row["commune"] == commune.id
    assert await OutboxSender(settings_for(mailbox.port)).deliver_due() == 1


async def test_rolled_back_transaction_stores_and_sends_nothing(
    clean_db: db.Engine, mailbox: MailSink
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction():
            await Commune(slug="gone", name="Disparue").save()
            await enqueue("parent@example.org", SUBJECT, BODY)
            raise RuntimeError("boom")
    assert await OutboundEmail.count() == 0
    assert await Commune.count() == 0
    assert await OutboxSender(settings_for(mailbox.port)).deliver_due() == 0
    assert mailbox.messages == []


async def test_nothing_is_lost_while_smtp_is_down(clean_db: db.Engine, mailbox: MailSink) -> None:
    await enqueue("parent@example.org", SUBJECT, BODY)
    down = OutboxSender(settings_for(closed_port()))
    before = utcnow()
    assert await down.deliver_due() == 0

    [row] = await rows()
    assert row["status"] == "pending"
    assert row["attempts"] == 1
    assert row["last_error"]
    assert row["next_attempt_at"] > before
    assert row["next_attempt_at"] >= before + retry_delay(1) - timedelta(seconds=1)

    up = OutboxSender(settings_for(mailbox.port))
    assert await up.deliver_due() == 0  # not due yet: the backoff holds
    assert mailbox.messages == []

    await make_due_now()
    assert await up.deliver_due() == 1
    mail = mailbox.wait_for(timeout=5)
    assert mail.subject == SUBJECT
    [row] = await rows()
    assert row["status"] == "sent"
    assert row["attempts"] == 2
    assert row["last_error"] == ""


async def test_a_whole_batch_waits_while_smtp_is_down(clean_db: db.Engine) -> None:
    for i in range(3):
        await enqueue(f"p{i}@example.org", f"Message {i}", "Corps")
    assert await OutboxSender(settings_for(closed_port())).deliver_due() == 0
    assert [(r["status"], r["attempts"]) for r in await rows()] == [("pending", 1)] * 3


async def test_deliver_due_accepts_a_clock(clean_db: db.Engine, mailbox: MailSink) -> None:
    await enqueue("parent@example.org", SUBJECT, BODY)
    down = OutboxSender(settings_for(closed_port()))
    now = utcnow()
    await down.deliver_due(now=now)
    up = OutboxSender(settings_for(mailbox.port))
    assert await up.deliver_due(now=now + retry_delay(1) - timedelta(seconds=5)) == 0
    assert await up.deliver_due(now=now + retry_delay(1) + timedelta(seconds=5)) == 1


async def test_gives_up_after_max_attempts(clean_db: db.Engine, mailbox: MailSink) -> None:
    await enqueue("parent@example.org", SUBJECT, BODY)
    down = OutboxSender(settings_for(closed_port()), max_attempts=3)
    for _ in range(3):
        await make_due_now()
        assert await down.deliver_due() == 0
    [row] = await rows()
    assert row["status"] == "failed"
    assert row["attempts"] == 3
    assert row["last_error"]

    await make_due_now()
    assert await OutboxSender(settings_for(mailbox.port)).deliver_due() == 0
    assert mailbox.messages == []


async def test_concurrent_senders_send_each_message_once(
    clean_db: db.Engine, mailbox: MailSink
) -> None:
    count = 12
    for i in range(count):
        await enqueue(f"p{i}@example.org", f"Message {i}", "Corps")
    settings = settings_for(mailbox.port)

    async def drain(sender: OutboxSender) -> int:
        total = 0
        while sent := await sender.deliver_due():
            total += sent
        return total

    senders = [OutboxSender(settings, batch_size=3) for _ in range(3)]
    totals = await asyncio.gather(*(drain(s) for s in senders))
    assert sum(totals) == count
    await mailbox.await_for(lambda m: len(mailbox.messages) >= count, timeout=5)
    subjects = sorted(m.subject for m in mailbox.messages)
    assert subjects == sorted(f"Message {i}" for i in range(count))
    assert {r["status"] for r in await rows()} == {"sent"}


async def test_two_single_rounds_in_parallel_do_not_overlap(
    clean_db: db.Engine, mailbox: MailSink
) -> None:
    for i in range(5):
        await enqueue(f"p{i}@example.org", f"Message {i}", "Corps")
    sender = OutboxSender(settings_for(mailbox.port))
    assert sorted(await asyncio.gather(sender.deliver_due(), sender.deliver_due())) == [0, 5]
    assert len(mailbox.messages) == 5


async def test_deliver_due_refuses_to_run_inside_a_transaction(clean_db: db.Engine) -> None:
    sender = OutboxSender(settings_for(closed_port()))
    with pytest.raises(RuntimeError, match="transaction"):
        async with db.transaction():
            await sender.deliver_due()


async def test_background_sender_is_woken_by_enqueue(
    clean_db: db.Engine, mailbox: MailSink
) -> None:
    # A long interval: only the wake-up can explain a quick delivery.
    sender = OutboxSender(settings_for(mailbox.port, outbox_interval=60.0))
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        await asyncio.sleep(0.05)  # let it start and find an empty outbox
        await enqueue("parent@example.org", "Réveil", "Immédiat")
        await mailbox.await_for(lambda m: m.subject == "Réveil", timeout=5)

        # Enqueued inside a transaction that commits a little after the nudge.
        async with db.transaction():
            await enqueue("parent@example.org", "Après commit", "Plus tard")
            await asyncio.sleep(0.05)
        await mailbox.await_for(lambda m: m.subject == "Après commit", timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert task.done() and task.exception() is None


class FlakySender(OutboxSender):
    """Fails its first round, as a database hiccup would."""

    rounds = 0

    async def deliver_due(self, now: Any = None) -> int:
        self.rounds += 1
        if self.rounds == 1:
            raise ConnectionError("database hiccup")
        return await super().deliver_due(now)


async def test_background_sender_survives_errors(
    clean_db: db.Engine, mailbox: MailSink, caplog: pytest.LogCaptureFixture
) -> None:
    await enqueue("parent@example.org", "Malgré tout", "Corps")
    sender = FlakySender(settings_for(mailbox.port, outbox_interval=0.05))
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="core.mail.sender"):
        task = asyncio.create_task(sender.run(stop))
        try:
            await mailbox.await_for(lambda m: m.subject == "Malgré tout", timeout=5)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=5)
    assert sender.rounds >= 2
    assert "database hiccup" in caplog.text


async def test_enqueue_rejects_header_injection(clean_db: db.Engine) -> None:
    with pytest.raises(ValueError, match="recipient"):
        await enqueue("a@example.org\r\nBcc: b@example.org", "Sujet", "Corps")
    await enqueue("parent@example.org", "Ligne 1\r\nBcc: x@example.org", "Corps")
    [row] = await rows()
    assert row["subject"] == "Ligne 1 Bcc: x@example.org"


async def test_extra_headers_are_sent_then_blanked(clean_db: db.Engine, mailbox: MailSink) -> None:
    unsubscribe = "<https://portail.example.org/boe/actualites/desabonnement/7/abc>"
    await enqueue(
        "parent@example.org",
        "Actualité",
        "Corps",
        headers={
            "List-Unsubscribe": unsubscribe,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    await enqueue("other@example.org", "Sans en-tête", "Corps")
    [with_headers, without] = await rows()
    assert without["headers"] == ""  # the default: none
    assert "List-Unsubscribe-Post" in with_headers["headers"]
    assert await OutboxSender(settings_for(mailbox.port)).deliver_due() == 2
    mail = mailbox.wait_for(lambda m: m.subject == "Actualité", timeout=5)
    assert mail.header("List-Unsubscribe") == [unsubscribe]
    assert mail.header("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    plain = mailbox.wait_for(lambda m: m.subject == "Sans en-tête", timeout=5)
    assert plain.header("List-Unsubscribe") == plain.header("List-Unsubscribe-Post") == []
    # Sent: the link in the header is not kept at rest, as the bodies' are not.
    assert [row["headers"] for row in await rows()] == ["", ""]


@pytest.mark.parametrize(
    "headers",
    [
        {"List-Unsubscribe": "<https://x.example/u>\r\nBcc: victim@example.org"},
        {"List-Unsubscribe": "<https://x.example/u>\nBcc: victim@example.org"},
        {"List-Unsubscribe": "<https://x.example/u>\rBcc: victim@example.org"},
        {"List-Unsubscribe": "<https://x.example/u>\u2028Bcc: victim@example.org"},
        {"List-Unsubscribe": "<https://x.example/u>\x85Bcc: victim@example.org"},
        {"List-Unsubscribe": "<https://x.example/u>\x00"},
        {"List-Unsubscribe": ""},
        {"List-Unsubscribe": "x" * 999},
        {"Bcc": "victim@example.org"},
        {"from": "someone@example.org"},
        {"X-Test\r\nBcc": "victim@example.org"},
        {"X-Test: x": "y"},
        {"": "y"},
        {"List-Unsubscribe": "<a>", "list-unsubscribe": "<b>"},
    ],
)
async def test_extra_headers_cannot_inject_anything(
    clean_db: db.Engine, headers: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="header"):
        await enqueue("parent@example.org", "Sujet", "Corps", headers=headers)
    assert await rows() == []


async def test_a_tampered_stored_header_is_not_sent(clean_db: db.Engine, mailbox: MailSink) -> None:
    """A row changed in the database after the checks (by hand, say) is checked again."""
    await enqueue("parent@example.org", "Sujet", "Corps", headers={"X-Test": "ok"})
    await OutboundEmail.update(
        {OutboundEmail.headers: '{"X-Test": "ok\\r\\nBcc: victim@example.org"}'}, force=True
    )
    assert await OutboxSender(settings_for(mailbox.port)).deliver_due() == 0
    [row] = await rows()
    assert row["status"] == "pending" and "header" in row["last_error"]
    assert mailbox.messages == []


def test_retry_delay_grows_and_is_capped() -> None:
    assert retry_delay(1) == timedelta(seconds=30)
    assert retry_delay(2) == timedelta(seconds=60)
    assert retry_delay(5) == timedelta(minutes=8)
    assert retry_delay(12) == timedelta(hours=1)  # capped at one hour (issue 11, item 3)
    assert retry_delay(1000) == timedelta(hours=1)
