"""The demo: seeded payers, the front page's demo section and the mailbox page."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyotp

from core.accounts.tables import Account, AccountPayer, Payer
from core.app import create_app
from core.backoffice.tables import Agent
from core.config import load_config
from core.db import Engine
from core.demo import DEMO_CONFIG, DEMO_PASSWORD, DEMO_PDFS, DemoMailbox, seed_demo
from core.demo_accounts import DEMO_AGENTS, DEMO_TOTP_SECRET
from core.invoices.tables import Invoice
from core.mail.sink import MailSink
from core.plugins import collect_plugin_settings, get_plugin_manager
from core.settings import Settings
from tests.integration.conftest import Portal, serve


async def test_demo_front_page_mailbox_and_login(
    clean_db: Engine, settings: Settings, mail_sink: MailSink, tmp_path: Path
) -> None:
    config = load_config(DEMO_CONFIG, collect_plugin_settings(get_plugin_manager()))
    demo_settings = dataclasses.replace(settings, demo=True)
    app = create_app(
        demo_settings, config=config, extra_plugins=[("demo-mailbox", DemoMailbox(mail_sink))]
    )
    mail_sink.clear()
    async with serve(app) as client:
        portal = Portal(client=client, sink=mail_sink, settings=demo_settings)
        from core.communes.tables import Commune

        ids = {row["slug"]: row["id"] for row in await Commune.select(Commune.slug, Commune.id)}
        await seed_demo(ids, data_dir=tmp_path)
        await seed_demo(ids, data_dir=tmp_path)  # idempotent
        assert await Payer.count() == 5  # through the import of examples/factures-*.csv
        assert await Invoice.count() == 39
        statuses = {row["status"] for row in await Invoice.select(Invoice.status)}
        assert statuses == {"a_regler", "reglee", "tresorerie"}
        assert await Invoice.count().where(Invoice.direct_debit.eq(True)) == 6
        with_pdf = await Invoice.select(Invoice.number, Invoice.pdf_path).where(
            Invoice.pdf_path != ""
        )
        assert sorted(r["number"] for r in with_pdf) == sorted(
            n for numbers in DEMO_PDFS.values() for n in numbers
        )
        assert all((tmp_path / r["pdf_path"]).read_bytes().startswith(b"%PDF") for r in with_pdf)
        assert await Account.count().where(Account.state == "active") == 2
        assert await AccountPayer.count() == 2  # each active account sees its family
        agents = await Agent.select(Agent.email, Agent.role, Agent.totp_enabled)
        assert sorted((a["email"], a["role"], a["totp_enabled"]) for a in agents) == [
            ("administrateur@boe.example.org", "administrateur", True),
            ("gestionnaire@aure.example.org", "gestionnaire", False),
            ("gestionnaire@boe.example.org", "gestionnaire", False),
        ]

        front = await client.get("/")
        assert "Adresses de démonstration" in front.text
        assert "y.benali@example.org" in front.text and DEMO_PASSWORD in front.text
        assert "http://portail.test/boe/" in front.text
        for _, email, _ in DEMO_AGENTS:
            assert email in front.text
        assert 'href="/boe/gestion/"' in front.text and 'href="/aure/gestion/"' in front.text
        assert DEMO_TOTP_SECRET in front.text and "<svg" in front.text

        # The gestionnaire signs in with the published password; the administrator gives the
        # code of the published TOTP secret too.
        ok = await portal.post_form(
            "/aure/gestion/connexion",
            {"email": "gestionnaire@aure.example.org", "password": DEMO_PASSWORD},
        )
        assert ok.headers["location"] == "/aure/gestion/"
        assert (await client.get("/aure/gestion/")).status_code == 200
        ok = await portal.post_form(
            "/boe/gestion/connexion",
            {"email": "administrateur@boe.example.org", "password": DEMO_PASSWORD},
        )
        assert ok.headers["location"] == "/boe/gestion/verification"
        code = pyotp.TOTP(DEMO_TOTP_SECRET).now()
        ok = await portal.post_form("/boe/gestion/verification", {"code": code})
        assert ok.headers["location"] == "/boe/gestion/"
        assert "Tableau de bord" in (await client.get("/boe/gestion/")).text

        await portal.post_form("/boe/activation", {"email": "y.benali@example.org"})
        await portal.deliver()
        mailbox = await client.get("/_demo/boite-mail")
        assert mailbox.status_code == 200
        assert "Accès au portail des factures" in mailbox.text
        assert 'href="http://portail.test/boe/activation/' in mailbox.text  # a clickable link

        ok = await portal.login("aure", "jean.dupont@example.org", DEMO_PASSWORD)
        assert ok.status_code == 303
        aure_home = await client.get("/aure/")
        assert "Bienvenue sur le portail" in aure_home.text  # the demo's news

        assert (
            await portal.login("boe", "claire.martin@example.org", DEMO_PASSWORD)
        ).status_code == 303
        boe_home = await client.get("/boe/")
        assert "<dialog" in boe_home.text and "sera fermé du 24 décembre" in boe_home.text
        assert "Nouveaux tarifs de la restauration scolaire" in boe_home.text
