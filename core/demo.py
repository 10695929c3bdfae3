"""`portail demo`: a seeded SQLite portal, a local SMTP sink and its mailbox page.

Everything runs in one process on loopback; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Controller, Request, get
from litestar.response import Template

from core import db
from core.accounts.services import link_payers
from core.accounts.tables import Account
from core.announcements.services import add_news, list_news, set_message
from core.app import create_app
from core.assets import EXAMPLES_DIR
from core.backoffice import journal
from core.backoffice.agents import create_agent
from core.backoffice.journal import Actor
from core.backoffice.tables import ADMINISTRATEUR, Agent, AgentToken
from core.clock import now
from core.communes.context import CommuneContext
from core.communes.services import sync_communes
from core.communes.tables import Commune
from core.config import PortalConfig
from core.demo_accounts import DEMO_AGENTS, DEMO_PASSWORD, DEMO_TOTP_SECRET
from core.demo_pdfs import write_invoice_pdfs
from core.hookspecs import hookimpl
from core.invoices.importer import import_invoices
from core.mail.mailer import Mailer
from core.mail.sink import MailSink
from core.plugins import collect_plugin_settings, get_plugin_manager
from core.security.passwords import hash_password
from core.settings import Settings
from core.setup import commune_contexts, load_checked_config, migrate
from core.web.render import render
from core.web.templates import build_jinja_env
from simulators.payfip.app import create_simulator_app

DEMO_CONFIG = EXAMPLES_DIR / "portail.demo.toml"
# Like the default DATABASE_URL, the demo's files go to `var/` under the working directory:
# the installed package's directory may not be writable.
DEMO_DATA_DIR = Path("var")
DEMO_DATABASE = DEMO_DATA_DIR / "demo.sqlite"

# The demo's payers and invoices come in through the import, as a commune's would: one
# billing export per commune (every invoice state, a direct-debit payer)...
DEMO_IMPORTS: dict[str, Path] = {
    "boe": EXAMPLES_DIR / "factures-boe.csv",
    "aure": EXAMPLES_DIR / "factures-aure.csv",
}
# ...with a PDF, generated at seeding time, for these invoices...
DEMO_PDFS: dict[str, list[str]] = {
    "boe": [
        "CANT-2026-0901",
        "PERI-2026-0901",
        "CANT-2026-1001",
        "PERI-2026-1001",
        "CANT-2026-1002",
    ],
    "aure": ["AURE-2026-00905", "AURE-2026-01008", "AURE-2026-01011", "AURE-2026-01012"],
}
# ...and these accounts already active (they see the payers the export lists them for).
DEMO_ACCOUNTS: list[tuple[str, str]] = [
    ("boe", "claire.martin@example.org"),
    ("aure", "jean.dupont@example.org"),
]


class DemoMailbox:
    """A plugin only the demo registers: the page listing what the SMTP sink received."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    @hookimpl
    def register_routes(self) -> list[Any]:
        sink = self.sink

        class MailboxController(Controller):
            path = "/_demo"

            @get("/boite-mail")
            async def mailbox(self, request: Request) -> Template:
                messages = list(reversed(sink.messages))
                return render(request, "demo/mailbox.html", {"commune": None, "messages": messages})

        return [MailboxController]


# (important message, [(news title, body), …]) per commune, published by the demo seeding.
DEMO_ANNOUNCEMENTS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "boe": (
        "Le service facturation sera fermé du 24 décembre au 2 janvier. Les factures de décembre "
        "seront publiées le 8 janvier.",
        [
            (
                "Nouveaux tarifs de la restauration scolaire",
                "À partir de janvier, le repas passe à 3,40 € ; le tarif réduit ne change pas.",
            ),
            (
                "Payez en ligne par carte ou par prélèvement",
                "Vos factures peuvent désormais être réglées en ligne, sans frais, avec PayFiP.",
            ),
        ],
    ),
    "aure": (
        "",
        [("Bienvenue sur le portail", "Retrouvez ici les factures du service Multi Services.")],
    ),
}


async def seed_demo(
    config_communes: dict[str, int],
    *,
    data_dir: Path = DEMO_DATA_DIR,
    base_url: str = "http://127.0.0.1:8000",
    config: PortalConfig | None = None,
) -> None:
    """Import the example billing exports (payers, invoices, a few PDFs written in a temporary
    directory), then create the active demo accounts and agents; idempotent (a re-import
    changes nothing). `config` defaults to the demo's communes file.
    """
    pm = get_plugin_manager()
    env = build_jinja_env(Settings(demo=True), pm)
    for slug, csv_path in DEMO_IMPORTS.items():
        commune_id = config_communes.get(slug)
        if commune_id is None:
            continue
        commune = await Commune.select(Commune.name).where(Commune.id == commune_id).first()
        name = commune["name"] if commune else slug
        with tempfile.TemporaryDirectory(prefix="portail-demo-pdf-") as pdf_dir:
            await asyncio.to_thread(
                write_invoice_pdfs, csv_path, DEMO_PDFS.get(slug, []), Path(pdf_dir), name
            )
            data = await asyncio.to_thread(csv_path.read_bytes)
            report = await import_invoices(
                commune_id,
                data,
                pdf_dir=Path(pdf_dir),
                data_dir=data_dir,
                env=env,
                base_url=base_url,
            )
        if report.errors:
            details = "; ".join(f"{e.line}/{e.column}: {e.message}" for e in report.errors[:5])
            raise RuntimeError(f"{csv_path.name} does not import: {details}")

    password_hash = await hash_password(DEMO_PASSWORD)
    for slug, email in DEMO_ACCOUNTS:
        commune_id = config_communes.get(slug)
        if commune_id is not None:
            await add_active_account(commune_id, email, password_hash)

    contexts = commune_contexts(
        config or load_checked_config(str(DEMO_CONFIG)), pm, collect_plugin_settings(pm)
    )
    mailer = Mailer(env=env, base_url=base_url)
    for slug, email, role in DEMO_AGENTS:
        commune_id = config_communes.get(slug)
        if commune_id is not None and slug in contexts:
            agent_commune = replace(contexts[slug], id=commune_id)
            totp_secret = DEMO_TOTP_SECRET if role == ADMINISTRATEUR else None
            await add_demo_agent(agent_commune, email, role, password_hash, mailer, totp_secret)

    for slug, (message, news) in DEMO_ANNOUNCEMENTS.items():
        commune_id = config_communes.get(slug)
        if commune_id is None:
            continue
        if message:
            await set_message(commune_id, message)  # the same text again changes nothing
        if not await list_news(commune_id):
            for title, body in news:
                await add_news(commune_id, title, body)


async def add_active_account(commune_id: int, email: str, password_hash: str) -> bool:
    """An account already active (no activation e-mail), linked to the payers known by `email`;
    False when the commune has one for this address already. For seeding only."""
    moment = now()
    async with db.transaction():
        if await Account.exists().where((Account.commune == commune_id) & (Account.email == email)):
            return False
        rows = await Account.insert(
            Account(
                commune=commune_id,
                email=email,
                password_hash=password_hash,
                state="active",
                created_at=moment,
                activated_at=moment,
            )
        ).returning(Account.id)
        await link_payers(commune_id, rows[0]["id"], email)
    return True


async def add_demo_agent(
    commune: CommuneContext,
    email: str,
    role: str,
    password_hash: str,
    mailer: Mailer,
    totp_secret: str | None = None,
) -> bool:
    """An agent created as `portail agent create` does, then given the demo's password (and
    TOTP secret, enabled) so nobody has to follow the invitation; False when it exists. For
    seeding only."""
    if await Agent.exists().where((Agent.commune == commune.id) & (Agent.email == email)):
        return False
    agent = await create_agent(commune, email, role, "", mailer, Actor.command_line())
    values: dict[Any, Any] = {Agent.password_hash: password_hash}
    if totp_secret:
        values.update({Agent.totp_secret: totp_secret, Agent.totp_enabled: True})
    async with db.transaction():
        await Agent.update(values).where(Agent.id == agent.id)
        # The invitation's link is not needed any more: it says so if followed.
        await AgentToken.update({AgentToken.used_at: now()}).where(
            (AgentToken.agent == agent.id) & AgentToken.used_at.is_null()
        )
        await journal.record(
            "agents.demo_credentials",
            Actor.command_line(),
            commune_id=commune.id,
            target=email,
            after={"password": "demo", "totp_enabled": bool(totp_secret)},
        )
    return True


async def prepare_demo_database(settings: Settings, config: PortalConfig) -> None:
    """Migrate, mirror the communes, then seed the demo payers, invoices and accounts."""
    await migrate(settings)
    engine = db.use_database(settings.database_url)
    await db.open_database(engine)
    try:
        await seed_demo(
            await sync_communes(config),
            data_dir=Path(settings.data_dir),
            base_url=settings.base_url,
            config=config,
        )
    finally:
        await db.close_database(engine)


SIMULATOR_PORT = 8001  # where examples/portail.demo.toml sends payments


def start_payment_simulator(host: str, port: int) -> threading.Thread:
    """Run the PayFiP/TIPI simulator in a daemon thread with its own event loop."""
    server = uvicorn.Server(
        uvicorn.Config(create_simulator_app(), host=host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="payfip-simulator", daemon=True)
    thread.start()
    return thread


def run_demo(host: str, port: int, smtp_port: int) -> int:
    os.environ.setdefault("PORTAIL_CONFIG", str(DEMO_CONFIG))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{DEMO_DATABASE}")
    os.environ.setdefault("PORTAIL_BASE_URL", f"http://{host}:{port}")
    os.environ.setdefault("PORTAIL_DATA_DIR", str(DEMO_DATA_DIR))
    os.environ["PORTAIL_DEMO"] = "1"
    os.environ["PORTAIL_OUTBOX_INTERVAL"] = "1"
    sink = MailSink(host="127.0.0.1", port=smtp_port).start()
    os.environ["SMTP_HOST"] = "127.0.0.1"
    os.environ["SMTP_PORT"] = str(sink.port)
    settings = Settings.from_env()
    config = load_checked_config(settings.config_path)
    asyncio.run(prepare_demo_database(settings, config))
    app = create_app(settings, config=config, extra_plugins=[("demo-mailbox", DemoMailbox(sink))])
    start_payment_simulator("127.0.0.1", SIMULATOR_PORT)
    print(f"\nPortail des factures (démo) : http://{host}:{port}/")
    print(f"Simulateur PayFiP/TIPI : http://127.0.0.1:{SIMULATOR_PORT}/_simulateur")
    print(f"Boîte mail de démonstration : http://{host}:{port}/_demo/boite-mail")
    print(
        f"Comptes actifs : claire.martin@example.org (boe), jean.dupont@example.org (aure), "
        f"mot de passe « {DEMO_PASSWORD} »\n"
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        sink.stop()
    return 0
