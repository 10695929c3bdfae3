"""`portail outbox …`: how the e-mail outbox is doing, and putting failed messages back.

    portail outbox status            counts by state, the oldest waiting message, the last error
    portail outbox retry             make every waiting message due now
    portail outbox retry --failed    also put the failed messages back to waiting

The back office's dashboard shows the same figures (`core.mail.health.outbox_health`).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from core import db
from core.i18n import t
from core.mail.health import outbox_health, retry_failed, retry_waiting
from core.settings import Settings


def add_outbox_commands(commands: argparse._SubParsersAction) -> None:
    """The `outbox` command, added to the `portail` parser; `args.run(settings, args)` runs it."""
    outbox = commands.add_parser("outbox", help="the e-mail outbox: its state, retrying")
    actions = outbox.add_subparsers(dest="action", required=True)
    actions.add_parser("status", help="counts by state, oldest waiting message, last error")
    retry = actions.add_parser("retry", help="send the waiting messages at the next round")
    retry.add_argument(
        "--failed", action="store_true", help="also put the failed messages back to waiting"
    )
    outbox.set_defaults(run=run_outbox_command, failed=False)


def run_outbox_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `portail outbox <action>`; returns the exit status."""
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate and open the database, act, close."""
    engine = db.use_database(settings.database_url)
    await db.open_database(engine)
    try:
        await db.migrate()
        return await execute(args)
    finally:
        await db.close_database(engine)


async def execute(args: argparse.Namespace) -> int:
    """Act on an open database; prints French lines; returns the exit status."""
    if args.action == "retry":
        print(t("outbox.retry.waiting", count=await retry_waiting()))
        if args.failed:
            print(t("outbox.retry.failed", count=await retry_failed()))
        return 0
    health = await outbox_health()
    print(t("outbox.status.title"))
    print(t("outbox.status.waiting", count=health.waiting))
    print(t("outbox.status.sent", count=health.sent))
    print(t("outbox.status.failed", count=health.failed))
    print(t("outbox.status.expired", count=health.expired))
    if health.oldest_waiting_age is None:
        print(t("outbox.status.nothing_waiting"))
    else:
        print(t("outbox.status.oldest", age=_age(health.oldest_waiting_age)))
    if health.last_error:
        print(t("outbox.status.last_error", error=health.last_error))
    return 0


def _age(age: timedelta) -> str:
    minutes = max(int(age.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return t("outbox.age.days", days=days, hours=hours)
    if hours:
        return t("outbox.age.hours", hours=hours, minutes=minutes)
    return t("outbox.age.minutes", minutes=minutes)
