"""`portail demo`: a seeded SQLite portal, a local SMTP sink and its mailbox page.

Everything runs in one process on loopback; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from core.config import PortalConfig
from core.hookspecs import hookimpl
from core.mail.sink import MailSink
from core.settings import Settings
from core.web.render import render

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = PROJECT_ROOT / "examples" / "portail.demo.toml"
DEMO_DATABASE = PROJECT_ROOT / "var" / "demo.sqlite"
DEMO_PASSWORD = "demo-portail-2026"  # noqa: S105 (published demo credentials, on purpose)

# (commune, payer reference, payer name, addresses known to the billing service, active account?)
DEMO_PAYERS: list[tuple[str, str, str, list[str], bool]] = [
    ("boe", "B-0001", "Famille Martin", ["claire.martin@example.org"], True),
    ("boe", "B-0002", "Famille Benali", ["y.benali@example.org", "s.benali@example.org"], False),
    ("boe", "B-0003", "Famille Nguyen", ["nguyen.famille@example.org"], False),
    ("aure", "A-0001", "Famille Dupont", ["jean.dupont@example.org"], True),
    ("aure", "A-0002", "Famille Garcia", ["garcia.lucie@example.org"], False),
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


async def seed_demo(config_communes: dict[str, int]) -> None:
    """Create the demo payers (and one active account per commune); idempotent."""
    from core.accounts.passwords import hash_password
    from core.accounts.services import link_payers
    from core.accounts.tables import Account, Payer, PayerEmail
    from core.db import transaction

    password_hash = await hash_password(DEMO_PASSWORD)
    now = dt.datetime.now(dt.UTC)
    async with transaction():
        for slug, ref, name, emails, active in DEMO_PAYERS:
            commune_id = config_communes[slug]
            if await Payer.exists().where(
                (Payer.commune == commune_id) & (Payer.external_ref == ref)
            ):
                continue
            rows = await Payer.insert(
                Payer(commune=commune_id, external_ref=ref, name=name)
            ).returning(Payer.id)
            payer_id = rows[0]["id"]
            await PayerEmail.insert(
                *[PayerEmail(commune=commune_id, payer=payer_id, email=e) for e in emails]
            )
            if active:
                account = await Account.insert(
                    Account(
                        commune=commune_id,
                        email=emails[0],
                        password_hash=password_hash,
                        state="active",
                        created_at=now,
                        activated_at=now,
                    )
                ).returning(Account.id)
                await link_payers(commune_id, account[0]["id"], emails[0])


async def prepare_demo_database(settings: Settings, config: PortalConfig) -> None:
    """Migrate, mirror the communes, then seed the demo payers."""
    from core import db
    from core.cli import migrate
    from core.communes.services import sync_communes

    await migrate(settings)
    engine = db.use_database(settings.database_url)
    await db.open_database(engine)
    try:
        await seed_demo(await sync_communes(config))
    finally:
        await db.close_database(engine)


def run_demo(host: str, port: int, smtp_port: int) -> int:
    import uvicorn

    from core.app import create_app
    from core.cli import load_checked_config
    from core.settings import Settings

    os.environ.setdefault("PORTAIL_CONFIG", str(DEMO_CONFIG))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{DEMO_DATABASE}")
    os.environ.setdefault("PORTAIL_BASE_URL", f"http://{host}:{port}")
    os.environ["PORTAIL_DEMO"] = "1"
    os.environ["PORTAIL_OUTBOX_INTERVAL"] = "1"
    sink = MailSink(host="127.0.0.1", port=smtp_port).start()
    os.environ["SMTP_HOST"] = "127.0.0.1"
    os.environ["SMTP_PORT"] = str(sink.port)
    settings = Settings.from_env()
    config = load_checked_config(settings.config_path)
    asyncio.run(prepare_demo_database(settings, config))
    app = create_app(settings, config=config, extra_plugins=[("demo-mailbox", DemoMailbox(sink))])
    print(f"\nPortail des factures (démo) : http://{host}:{port}/")
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
