"""`portail agent create …`: creating agents from a terminal. Superviseurs are created only here.

    portail agent create --commune boe --email agent@boe.fr --role administrateur [--name "…"]
    portail agent create --superviseur --email chef@exemple.fr [--name "…"] [--commune boe]

The agent receives an e-mail with a link to choose a password (through the outbox, as every
e-mail). A superviseur's link leads to `--commune`'s back office, or the first configured one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace

from core import db
from core.backoffice.agents import COMMUNE_ROLES, create_agent
from core.backoffice.journal import Actor
from core.backoffice.tables import SUPERVISEUR
from core.communes.context import CommuneContext
from core.communes.services import sync_communes
from core.i18n import t
from core.mail.mailer import Mailer
from core.plugins import collect_plugin_settings, get_plugin_manager
from core.settings import Settings
from core.setup import commune_contexts, load_checked_config
from core.web.forms import Problems
from core.web.templates import build_jinja_env


def add_agent_commands(commands: argparse._SubParsersAction) -> None:
    """The `agent` command, added to the `portail` parser; `args.run(settings, args)` runs it."""
    agent = commands.add_parser("agent", help="the agents of the back office")
    actions = agent.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create", help="create an agent and e-mail a link to choose the password"
    )
    create.add_argument("--commune", help="the commune's slug (for a superviseur: the link's)")
    create.add_argument(
        "--superviseur", action="store_true", help="an agent of every commune (no --role)"
    )
    create.add_argument("--email", required=True, help="the agent's e-mail address")
    create.add_argument("--role", choices=COMMUNE_ROLES, help="the agent's role in the commune")
    create.add_argument("--name", default="", help="the agent's name, as colleagues know it")
    agent.set_defaults(run=run_agent_command)


def run_agent_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `portail agent <action>`; returns the exit status."""
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate and open the database, mirror the configured communes, act, close."""
    config = load_checked_config(settings.config_path)
    engine = db.use_database(settings.database_url)
    await db.open_database(engine)
    try:
        await db.migrate()
        ids = await sync_communes(config)
        pm = get_plugin_manager()
        contexts = {
            slug: replace(context, id=ids[slug])
            for slug, context in commune_contexts(config, pm, collect_plugin_settings(pm)).items()
        }
        mailer = Mailer(env=build_jinja_env(settings, pm), base_url=settings.base_url)
        return await execute(args, contexts, mailer)
    finally:
        await db.close_database(engine)


async def execute(
    args: argparse.Namespace, communes: dict[str, CommuneContext], mailer: Mailer
) -> int:
    """Act on an open database; `communes` by slug, in configuration order. Exit status."""
    if args.superviseur and args.role:
        return _fail(t("backoffice.cli.role_with_superviseur"))
    if not args.superviseur and not args.commune:
        return _fail(t("backoffice.cli.commune_required"))
    if not args.superviseur and not args.role:
        return _fail(t("backoffice.cli.role_required"))
    if args.commune and args.commune not in communes:
        slugs = ", ".join(sorted(communes)) or "—"
        return _fail(t("backoffice.cli.unknown_commune", slug=args.commune, slugs=slugs))
    site = communes[args.commune] if args.commune else next(iter(communes.values()), None)
    if site is None:
        return _fail(t("backoffice.cli.no_commune"))
    try:
        if args.superviseur:
            agent = await create_agent(
                None,
                args.email,
                SUPERVISEUR,
                args.name,
                mailer,
                Actor.command_line(),
                link_commune=site,
            )
            print(t("backoffice.cli.created_superviseur", email=agent.email, commune=site.slug))
        else:
            agent = await create_agent(
                site, args.email, args.role, args.name, mailer, Actor.command_line()
            )
            print(
                t("backoffice.cli.created", email=agent.email, role=agent.role, commune=site.slug)
            )
    except Problems as problems:
        for name, messages in problems.errors.items():
            for message in messages:
                print(t("backoffice.cli.problem", field=name, message=message), file=sys.stderr)
        return 2
    return 0


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2
