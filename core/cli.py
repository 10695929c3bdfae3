"""The `portail` command: demo, serve, migrate, check-config, import, news, message."""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import sys
from pathlib import Path
from typing import Any

from core.announcements import command as announcements
from core.backoffice.command import add_agent_commands
from core.config import DATA_PROTECTION_FIELDS, PUBLISHER_FIELDS, ConfigError
from core.mail.command import add_outbox_commands
from core.security.audit import AccessLogRedaction
from core.settings import Settings
from core.setup import load_checked_config, migrate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portail", description="Portail des factures")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate the database, then serve the portal")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    demo = commands.add_parser(
        "demo", help="seeded demo with a mail sink, on http://127.0.0.1:8000"
    )
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--smtp-port", type=int, default=1025)
    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser(
        "seed-demo",
        help="migrate, then add the demo payers and accounts (PORTAIL_CONFIG's communes)",
    )
    importing = commands.add_parser("import", help="import data from a commune's software")
    imports = importing.add_subparsers(dest="what", required=True)
    invoices = imports.add_parser(
        "invoices", help="import a CSV export of invoices (docs/import.md)"
    )
    invoices.add_argument("file", help="the CSV file (UTF-8, ';'-separated)")
    invoices.add_argument("--commune", required=True, help="the commune's slug")
    invoices.add_argument("--pdf-dir", help="directory of the invoices' PDFs, <number>.pdf")
    announcements.add_parsers(commands)  # `news …` and `message …`
    add_agent_commands(commands)  # `agent …`: sets args.run
    add_outbox_commands(commands)  # `outbox status|retry`: sets args.run
    check = commands.add_parser("check-config", help="validate the communes' TOML configuration")
    check.add_argument("path", nargs="?", help="file to check (default: PORTAIL_CONFIG)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    try:
        if args.command == "check-config":
            return check_config(args.path)
        if args.command == "migrate":
            asyncio.run(migrate(Settings.from_env()))
            print("Migrations applied.")
            return 0
        # The commands below import what they run when they run: `portail migrate` or
        # `portail news` need not load the web application, the importer or the demo.
        if args.command == "seed-demo":
            from core.demo import prepare_demo_database

            settings = Settings.from_env()
            asyncio.run(prepare_demo_database(settings, load_checked_config(settings.config_path)))
            print("Demo data ready.")
            return 0
        if args.command == "import":
            from core.invoices.command import run_import

            pdf_dir = Path(args.pdf_dir) if args.pdf_dir else None
            return asyncio.run(
                run_import(Settings.from_env(), Path(args.file), args.commune, pdf_dir)
            )
        if args.command in {"agent", "outbox"}:
            return int(args.run(Settings.from_env(), args))
        if args.command in {"news", "message"}:
            return announcements.run(Settings.from_env(), args)
        if args.command == "serve":
            return serve_portal(args.host, args.port, args.workers)
        if args.command == "demo":
            from core.demo import run_demo

            return run_demo(args.host, args.port, args.smtp_port)
    except (ConfigError, ValueError) as exc:
        print(f"portail: {exc}", file=sys.stderr)
        return 2
    return 1


def check_config(path: str | None) -> int:
    """The communes' file, and the process settings `portail serve` would refuse to start with."""
    settings_path = path or os.environ.get("PORTAIL_CONFIG", "portail.toml")
    notices: list[str] = []
    try:
        Settings.from_env()
        config = load_checked_config(settings_path, notices)
    except (ConfigError, ValueError) as exc:
        print(f"portail: {exc}", file=sys.stderr)
        return 2
    for i, commune in enumerate(config.communes):
        # Not an error: the pages say what is missing. But a commune must publish them.
        missing = commune.legal.missing(
            tuple(dict.fromkeys(PUBLISHER_FIELDS + DATA_PROTECTION_FIELDS))
        )
        if missing:
            notices.append(
                f"communes[{i}].legal ({commune.slug}): not set yet: {', '.join(missing)} "
                "(the legal pages tell parents these are missing)"
            )
    for notice in notices:
        print(f"portail: warning: {notice}", file=sys.stderr)
    print(
        f"{settings_path}: OK ({len(config.communes)} commune(s): "
        f"{', '.join(c.slug for c in config.communes)})"
    )
    return 0


def serve_portal(host: str, port: int, workers: int) -> int:
    from core.server import run_server

    settings = Settings.from_env()
    # Fail before binding the port: a bad configuration must never half-start.
    load_checked_config(settings.config_path)
    asyncio.run(migrate(settings))
    run_server(
        host,
        port,
        workers=workers,
        proxy_headers=settings.trust_proxy_headers,
        log_config=access_log_config(),
    )
    return 0


def access_log_config() -> dict[str, Any]:
    """uvicorn's logging, with link tokens cut out of the access log's request lines."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_links"] = {"()": AccessLogRedaction}
    config["handlers"]["access"]["filters"] = ["redact_links"]
    return config


if __name__ == "__main__":
    raise SystemExit(main())
