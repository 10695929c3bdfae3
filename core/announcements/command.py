"""`portail news …` and `portail message …`: publishing from a terminal until the agents' back
office exists (it will call the same `core.announcements.services` functions).

    portail news add --commune boe --title "Rentrée" --body "Les tarifs…" [--date 2026-09-01]
    portail news list --commune boe
    portail news delete --commune boe 12
    portail message set --commune boe --body-file message.txt [--title "Paiement suspendu"]
    portail message show --commune boe
    portail message clear --commune boe

`--body-file -` reads the text from the standard input. Blank lines separate paragraphs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path

from core import db
from core.announcements import services
from core.communes.services import sync_communes
from core.i18n import t
from core.settings import Settings
from core.setup import load_checked_config
from core.web.formatting import TIMEZONE, date


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """The `news` and `message` commands, added to the `portail` parser."""
    news = commands.add_parser("news", help="publish the commune's news (Actualités)")
    news_commands = news.add_subparsers(dest="action", required=True)
    add = news_commands.add_parser("add", help="publish a news item")
    _commune(add)
    add.add_argument("--title", required=True)
    _body(add)
    add.add_argument("--date", help="publication date, YYYY-MM-DD (default: now)")
    _commune(news_commands.add_parser("list", help="list the news, newest first"))
    delete = news_commands.add_parser("delete", help="delete a news item")
    _commune(delete)
    delete.add_argument("id", type=int, help="the item's number, as `news list` shows it")

    message = commands.add_parser("message", help="the important message of the home page")
    message_commands = message.add_subparsers(dest="action", required=True)
    set_ = message_commands.add_parser(
        "set", help="publish or change it (a changed text is shown again to everyone)"
    )
    _commune(set_)
    set_.add_argument("--title", default="", help="its heading (default: a generic one)")
    _body(set_)
    _commune(message_commands.add_parser("show", help="show the current message"))
    _commune(message_commands.add_parser("clear", help="withdraw it"))


def _commune(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--commune", required=True, help="the commune's slug")


def _body(parser: argparse.ArgumentParser) -> None:
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--body", help="the text (blank lines separate paragraphs)")
    body.add_argument("--body-file", help="read the text from this file (UTF-8); - for stdin")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run `portail news|message <action>`; returns the exit status."""
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate and open the database, mirror the configured communes, act, close."""
    config = load_checked_config(settings.config_path)
    engine = db.use_database(settings.database_url)
    await db.open_database(engine)
    try:
        await db.migrate()
        return await execute(args, await sync_communes(config))
    finally:
        await db.close_database(engine)


async def execute(args: argparse.Namespace, communes: dict[str, int]) -> int:
    """Act on an open database; `communes` maps slugs to ids. Returns the exit status."""
    commune_id = communes.get(args.commune)
    if commune_id is None:
        slugs = ", ".join(sorted(communes)) or "—"
        print(
            t("announcements.cli.unknown_commune", slug=args.commune, slugs=slugs),
            file=sys.stderr,
        )
        return 2
    try:
        if args.command == "news":
            return await _news(args, commune_id, args.commune)
        return await _message(args, commune_id, args.commune)
    except services.AnnouncementError as exc:
        print(str(exc), file=sys.stderr)
        return 2


def _read_body(args: argparse.Namespace) -> str | None:
    if args.body is not None:
        return str(args.body)
    if args.body_file is None:
        print(t("announcements.cli.body_required"), file=sys.stderr)
        return None
    if args.body_file == "-":
        return sys.stdin.read()
    try:
        return Path(args.body_file).read_text(encoding="utf-8")
    except OSError:
        print(t("announcements.cli.file_missing", path=args.body_file), file=sys.stderr)
        return None


def _parse_date(value: str | None) -> dt.datetime | None:
    """8 a.m. in France on the day `value` (YYYY-MM-DD); None when not given. ValueError."""
    if not value:
        return None
    day = dt.date.fromisoformat(value)
    return dt.datetime.combine(day, dt.time(hour=8), tzinfo=TIMEZONE)


async def _news(args: argparse.Namespace, commune_id: int, slug: str) -> int:
    if args.action == "add":
        try:
            published_at = _parse_date(args.date)
        except ValueError:
            print(t("announcements.cli.bad_date", value=args.date), file=sys.stderr)
            return 2
        body = _read_body(args)
        if body is None:
            return 2
        news_id = await services.add_news(
            commune_id,
            args.title,
            body,
            published_at=published_at,
        )
        print(t("announcements.cli.news_added", id=news_id, commune=slug))
        return 0
    if args.action == "list":
        items = await services.list_news(commune_id, limit=None, drafts=True)
        if not items:
            print(t("announcements.cli.no_news", commune=slug))
        for item in items:
            line = t(
                "announcements.cli.news_line",
                id=item.id,
                date=date(item.published_at),
                title=item.title,
            )
            print(line)
        return 0
    if await services.delete_news(commune_id, args.id):
        print(t("announcements.cli.news_deleted", id=args.id))
        return 0
    print(t("announcements.cli.news_missing", id=args.id, commune=slug), file=sys.stderr)
    return 1


async def _message(args: argparse.Namespace, commune_id: int, slug: str) -> int:
    if args.action == "set":
        body = _read_body(args)
        if body is None:
            return 2
        message = await services.set_message(commune_id, body, title=args.title)
        print(t("announcements.cli.message_set", commune=slug, version=message.version))
        return 0
    if args.action == "show":
        current = await services.current_message(commune_id)
        if current is None:
            print(t("announcements.cli.no_message", commune=slug))
            return 0
        print(
            t(
                "announcements.cli.message_line",
                version=current.version,
                date=date(current.updated_at),
                title=current.title or "—",
            )
        )
        print("\n\n".join(current.paragraphs))
        return 0
    if await services.clear_message(commune_id):
        print(t("announcements.cli.message_cleared", commune=slug))
    else:
        print(t("announcements.cli.no_message", commune=slug))
    return 0
