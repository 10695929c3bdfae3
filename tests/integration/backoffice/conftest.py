"""Fixtures of the back office's tests (tests/integration/backoffice/): the test communes as
contexts, a mailer, agents made from the command line with their password set."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core import db
from core.app import build_jinja_env, commune_contexts
from core.backoffice.agents import create_agent, set_password
from core.backoffice.identity import AgentInfo
from core.backoffice.journal import Actor
from core.backoffice.tables import AgentToken
from core.communes.context import CommuneContext
from core.communes.services import sync_communes
from core.config import parse_config
from core.mail.mailer import Mailer
from core.mail.tables import OutboundEmail
from core.plugins import collect_plugin_settings, get_plugin_manager
from core.settings import Settings
from tests.integration.conftest import CONFIG, GOOD_PASSWORD, LINK_PATTERN


@pytest.fixture
async def communes(clean_db: db.Engine) -> dict[str, CommuneContext]:
    """The test communes (boe, aure) mirrored in the database, as handlers see them."""
    config = parse_config(CONFIG)
    ids = await sync_communes(config)
    pm = get_plugin_manager()
    contexts = commune_contexts(config, pm, collect_plugin_settings(pm))
    return {slug: replace(context, id=ids[slug]) for slug, context in contexts.items()}


@pytest.fixture
def mailer(settings: Settings) -> Mailer:
    return Mailer(env=build_jinja_env(settings, get_plugin_manager()), base_url=settings.base_url)


async def last_link_to(address: str) -> str:
    """The path of the link in the newest e-mail queued for `address`."""
    row = (
        await OutboundEmail.select(OutboundEmail.body_text)
        .where(OutboundEmail.recipient == address)
        .order_by(OutboundEmail.id, ascending=False)
        .first()
    )
    assert row is not None, f"no e-mail to {address}"
    links = LINK_PATTERN.findall(row["body_text"])
    assert links, row["body_text"]
    return str(links[0]).removeprefix("http://portail.test")


async def make_agent(
    commune: CommuneContext | None,
    mailer: Mailer,
    email: str,
    role: str,
    *,
    link_commune: CommuneContext | None = None,
    password: str = GOOD_PASSWORD,
) -> AgentInfo:
    """An agent created from the command line, whose password is set from the e-mailed link."""
    await create_agent(
        commune, email, role, "", mailer, Actor.command_line(), link_commune=link_commune
    )
    site = commune or link_commune
    assert site is not None
    secret = (await last_link_to(email)).rsplit("/", 1)[1]
    return await set_password(site, secret, password, password)


async def token_count() -> int:
    return await AgentToken.count()
