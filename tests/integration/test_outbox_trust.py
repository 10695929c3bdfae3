"""What the outbox keeps and for how long, and how it lives through a long SMTP outage.

- A delivered message keeps no usable link: its bodies are blanked when it is marked sent, and
  sent messages are deleted after `PORTAIL_OUTBOX_RETENTION_DAYS`.
- While SMTP is down, messages are retried (back-off capped at one hour) for
  `PORTAIL_OUTBOX_GIVE_UP_DAYS`; a message whose link has expired is marked expired, not sent.
- `outbox_health()`, `portail outbox status|retry` and the dashboard show failures to agents.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from core import db
from core.backoffice.dashboard import dashboard
from core.backoffice.tables import GESTIONNAIRE
from core.communes.tables import Commune
from core.mail import command
from core.mail.health import outbox_health, purge_delivered, retry_failed
from core.mail.outbox import enqueue, utcnow
from core.mail.sender import OutboxSender, retry_delay
from core.mail.sink import MailSink
from core.mail.tables import OutboundEmail
from core.settings import Settings
from tests.integration.backoffice.web import signed_in_agent
from tests.integration.conftest import Portal, add_payer
from tests.integration.test_outbox import closed_port, make_due_now, rows, settings_for

SECRET = "s3cr3t-t0ken-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


@pytest.fixture
def mailbox() -> Any:
    with MailSink() as sink:
        yield sink


def row_texts(row: dict[str, Any]) -> str:
    return " ".join(str(value) for value in row.values())


# -- Links are not kept at rest -----------------------------------------------------------------


async def test_a_delivered_activation_leaves_no_link_in_the_database(portal: Portal) -> None:
    await add_payer("boe", "P1", "Famille Martin", "claire@example.org")
    await portal.post_form("/boe/activation", {"email": "claire@example.org"})
    [waiting] = await rows()
    assert waiting["status"] == "pending"
    assert "/boe/activation/" in waiting["body_text"]  # still to be sent: the body stays

    link = await portal.link_in_mail("claire@example.org", "Accès")
    secret = link.rsplit("/", 1)[1]
    [sent] = await rows()
    assert sent["status"] == "sent"
    assert secret not in row_texts(sent)
    assert (sent["body_text"], sent["body_html"]) == ("", "")
    # What stays for the record: who, what, when.
    assert sent["recipient"] == "claire@example.org"
    assert "Accès" in sent["subject"]
    assert sent["sent_at"] is not None and sent["created_at"] is not None
    # The link still works: only the copy at rest is gone.
    page = await portal.client.get(link)
    assert page.status_code == 200


async def test_waiting_and_failed_messages_keep_their_body(clean_db: db.Engine) -> None:
    await enqueue("parent@example.org", "Lien", f"https://portail.test/{SECRET}")
    await OutboxSender(settings_for(closed_port())).deliver_due()
    [row] = await rows()
    assert row["status"] == "pending"
    assert SECRET in row["body_text"]


async def test_sent_messages_are_purged_after_the_retention_period(
    clean_db: db.Engine, mailbox: MailSink
) -> None:
    for name in ("old", "recent"):
        await enqueue("parent@example.org", name, "Corps")
    await OutboxSender(settings_for(mailbox.port)).deliver_due()
    await enqueue("parent@example.org", "waiting", "Corps")
    long_ago = utcnow() - timedelta(days=31)
    await OutboundEmail.update(
        {OutboundEmail.sent_at: long_ago, OutboundEmail.created_at: long_ago}
    ).where(OutboundEmail.subject == "old")
    await OutboundEmail.update({OutboundEmail.created_at: long_ago}).where(
        OutboundEmail.subject == "waiting"
    )

    assert await purge_delivered(retention_days=30) == 1
    assert [r["subject"] for r in await rows()] == ["recent", "waiting"]
    assert await purge_delivered(retention_days=30) == 0


def test_retention_and_give_up_are_settings() -> None:
    settings = Settings.from_env(
        {
            "PORTAIL_OUTBOX_RETENTION_DAYS": "90",
            "PORTAIL_OUTBOX_GIVE_UP_DAYS": "3",
            "PORTAIL_DEBUG": "1",
        }
    )
    assert (settings.outbox_retention_days, settings.outbox_give_up_days) == (90, 3)
    assert (Settings().outbox_retention_days, Settings().outbox_give_up_days) == (30, 7)


# -- A long outage --------------------------------------------------------------------------------


def test_back_off_is_capped_at_one_hour() -> None:
    assert retry_delay(1) == timedelta(seconds=30)
    assert retry_delay(8) == timedelta(hours=1)
    assert retry_delay(1000) == timedelta(hours=1)


async def test_retries_go_on_for_days_then_give_up(clean_db: db.Engine) -> None:
    await enqueue("parent@example.org", "Reçu", "Corps")
    down = OutboxSender(settings_for(closed_port(), outbox_give_up_days=7))
    # Fourteen and a half hours of outage (the old limit): 30 attempts, still waiting.
    for _ in range(30):
        await make_due_now()
        await down.deliver_due()
    [row] = await rows()
    assert (row["status"], row["attempts"]) == ("pending", 30)

    six_days_ago = utcnow() - timedelta(days=6)
    await OutboundEmail.update({OutboundEmail.created_at: six_days_ago}, force=True)
    await make_due_now()
    await down.deliver_due()
    assert (await rows())[0]["status"] == "pending"

    eight_days_ago = utcnow() - timedelta(days=8)
    await OutboundEmail.update({OutboundEmail.created_at: eight_days_ago}, force=True)
    await make_due_now()
    await down.deliver_due()
    [row] = await rows()
    assert row["status"] == "failed"
    assert row["last_error"]


async def test_an_expired_message_is_marked_expired_and_not_sent(
    clean_db: db.Engine, mailbox: MailSink
) -> None:
    await enqueue(
        "parent@example.org",
        "Lien périmé",
        f"https://portail.test/{SECRET}",
        expires_at=utcnow() - timedelta(seconds=1),
    )
    assert await OutboxSender(settings_for(mailbox.port)).deliver_due() == 0
    [row] = await rows()
    assert row["status"] == "expired"
    assert SECRET not in row_texts(row)
    assert mailbox.messages == []


async def test_a_real_outage_then_recovery_sends_each_message_once(
    clean_db: db.Engine, mailbox: MailSink
) -> None:
    soon = utcnow() + timedelta(hours=2)
    for i in range(5):
        await enqueue(f"p{i}@example.org", f"Reçu {i}", "Corps")
    for i in range(3):
        await enqueue(f"l{i}@example.org", f"Lien {i}", "Lien", expires_at=soon)
    await enqueue(
        "late@example.org", "Lien tardif", "Lien", expires_at=utcnow() + timedelta(days=2)
    )

    # SMTP down: a port with nothing listening, for several rounds.
    down = OutboxSender(settings_for(closed_port()))
    for _ in range(5):
        await make_due_now()
        assert await down.deliver_due() == 0
    assert {r["status"] for r in await rows()} == {"pending"}

    # Three hours later the short links have expired; then the sink answers.
    later = utcnow() + timedelta(hours=3)
    up = OutboxSender(settings_for(mailbox.port))
    await make_due_now()
    total = 0
    while sent := await up.deliver_due(now=later):
        total += sent
    assert total == 6
    await mailbox.await_for(lambda m: len(mailbox.messages) >= 6, timeout=5)
    received = Counter(m.subject for m in mailbox.messages)
    assert received == Counter([*(f"Reçu {i}" for i in range(5)), "Lien tardif"])
    statuses = Counter(r["status"] for r in await rows())
    assert statuses == Counter({"sent": 6, "expired": 3})
    assert await up.deliver_due(now=later) == 0
    assert len(mailbox.messages) == 6


async def test_link_e_mails_carry_the_expiry_of_their_token(portal: Portal) -> None:
    await add_payer("boe", "P1", "Famille Martin", "claire@example.org")
    before = utcnow()
    await portal.post_form("/boe/activation", {"email": "claire@example.org"})
    [row] = await rows()
    assert before + timedelta(hours=48) <= row["expires_at"] <= utcnow() + timedelta(hours=48)

    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    invitation = (
        await OutboundEmail.select()
        .where(OutboundEmail.recipient == "gestion@boe.test")
        .order_by(OutboundEmail.id)
        .first()
    )
    assert invitation is not None
    lifetime = invitation["expires_at"] - invitation["created_at"]
    assert abs(lifetime - timedelta(hours=72)) < timedelta(seconds=5)


async def test_receipts_and_alerts_do_not_expire(clean_db: db.Engine) -> None:
    await enqueue("parent@example.org", "Reçu", "Corps")
    [row] = await rows()
    assert row["expires_at"] is None


# -- Showing failures -----------------------------------------------------------------------------


async def failed_outbox(commune_id: int | None = None) -> None:
    """One message waiting, one failed and one expired (of `commune_id`)."""
    await enqueue("a@example.org", "En attente", "Corps", commune_id=commune_id)
    await enqueue("b@example.org", "Échec", "Corps", commune_id=commune_id)
    await enqueue("c@example.org", "Périmé", "Corps", commune_id=commune_id)
    await OutboundEmail.update(
        {OutboundEmail.status: "failed", OutboundEmail.last_error: "SMTPConnectError: refused"}
    ).where(OutboundEmail.subject == "Échec")
    await OutboundEmail.update({OutboundEmail.status: "expired"}).where(
        OutboundEmail.subject == "Périmé"
    )
    await OutboundEmail.update({OutboundEmail.created_at: utcnow() - timedelta(hours=2)}).where(
        OutboundEmail.subject == "En attente"
    )


async def test_outbox_health_counts_by_state(clean_db: db.Engine) -> None:
    empty = await outbox_health()
    assert (empty.waiting, empty.failed, empty.expired, empty.oldest_waiting_age) == (0, 0, 0, None)
    await failed_outbox()
    health = await outbox_health()
    assert (health.waiting, health.failed, health.expired) == (1, 1, 1)
    assert health.oldest_waiting_age is not None
    assert timedelta(hours=2) <= health.oldest_waiting_age < timedelta(hours=2, minutes=1)
    assert health.last_error == "SMTPConnectError: refused"


async def test_retry_puts_failed_messages_back_to_waiting(
    clean_db: db.Engine, mailbox: MailSink
) -> None:
    await failed_outbox()
    assert await retry_failed() == 1
    assert Counter(r["status"] for r in await rows()) == Counter({"pending": 2, "expired": 1})
    assert await OutboxSender(settings_for(mailbox.port)).deliver_due() == 2


async def test_a_retried_message_gets_a_new_give_up_period(clean_db: db.Engine) -> None:
    await enqueue("parent@example.org", "Reçu", "Corps")
    await OutboundEmail.update(
        {OutboundEmail.created_at: utcnow() - timedelta(days=10), OutboundEmail.status: "failed"},
        force=True,
    )
    await retry_failed()
    await OutboxSender(settings_for(closed_port())).deliver_due()
    [row] = await rows()
    assert row["status"] == "pending"


async def test_outbox_commands_print_french_figures(
    clean_db: db.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    await failed_outbox()
    assert await command.execute(argparse.Namespace(action="status", failed=False)) == 0
    out = capsys.readouterr().out
    assert "En attente : 1" in out
    assert "En échec : 1" in out
    assert "Périmés : 1" in out
    assert "SMTPConnectError: refused" in out

    assert await command.execute(argparse.Namespace(action="retry", failed=True)) == 0
    assert "1 e-mail(s) en échec remis en attente" in capsys.readouterr().out
    assert (await outbox_health()).failed == 0


def test_outbox_commands_are_registered() -> None:
    from core.cli import build_parser

    args = build_parser().parse_args(["outbox", "retry", "--failed"])
    assert (args.command, args.action, args.failed) == ("outbox", "retry", True)
    assert build_parser().parse_args(["outbox", "status"]).action == "status"


async def test_the_dashboard_shows_failed_e_mails(portal: Portal) -> None:
    commune = await Commune.select(Commune.id).where(Commune.slug == "boe").first()
    assert commune is not None
    await failed_outbox(commune["id"])
    await enqueue("x@example.org", "Autre commune", "Corps")
    await OutboundEmail.update({OutboundEmail.status: "failed"}).where(
        OutboundEmail.subject == "Autre commune"
    )
    assert (await dashboard(commune["id"])).emails_failed == 1

    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    page = (await portal.client.get("/boe/gestion/")).text
    assert "E-mails en échec" in page
    label = page.index("E-mails en échec")
    assert '<p class="figure__value">1</p>' in page[label : label + 200]
