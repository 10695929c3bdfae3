"""The demo: seeded payers, the front page's demo section and the mailbox page."""

from __future__ import annotations

import dataclasses

from core.accounts.tables import Account, Payer
from core.app import create_app
from core.config import load_config
from core.db import Engine
from core.demo import DEMO_CONFIG, DEMO_PASSWORD, DEMO_PAYERS, DemoMailbox, seed_demo
from core.mail.sink import MailSink
from core.plugins import collect_plugin_settings, get_plugin_manager
from core.settings import Settings
from tests.integration.conftest import Portal, serve


async def test_demo_front_page_mailbox_and_login(
    clean_db: Engine, settings: Settings, mail_sink: MailSink
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
        await seed_demo(ids)
        await seed_demo(ids)  # idempotent
        assert await Payer.count() == len(DEMO_PAYERS)
        assert await Account.count().where(Account.state == "active") == 2

        front = await client.get("/")
        assert "Adresses de démonstration" in front.text
        assert "y.benali@example.org" in front.text and DEMO_PASSWORD in front.text
        assert "http://portail.test/boe/" in front.text

        await portal.post_form("/boe/activation", {"email": "y.benali@example.org"})
        await portal.deliver()
        mailbox = await client.get("/_demo/boite-mail")
        assert mailbox.status_code == 200
        assert "Accès au portail des factures" in mailbox.text
        assert 'href="http://portail.test/boe/activation/' in mailbox.text  # a clickable link

        ok = await portal.login("aure", "jean.dupont@example.org", DEMO_PASSWORD)
        assert ok.status_code == 303
