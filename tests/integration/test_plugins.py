"""The plugin contract: each hook of `core.hookspecs`, per-commune scoping, registration rules.

The fake plugins `tests.plugins.extra_menu` and `tests.plugins.extra_tables` (which owns a table)
are registered like a third-party plugin would be and enabled per commune through the
configuration. Tests named `test_hook_<name>` are required by
`tests/unit/test_docs.py`, one per hookspec.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pluggy
import pytest

from core import db, i18n
from core.app import create_app
from core.config import ConfigError, PortalConfig, parse_config
from core.db import Engine
from core.hookspecs import MenuItem, hookimpl
from core.mail.sink import MailSink
from core.migrations import CORE_APP, app_registry, piccolo_apps
from core.plugins import (
    ALWAYS_ON_PLUGINS,
    BUILTIN_PLUGINS,
    CommuneHooks,
    collect_plugin_settings,
    get_plugin_manager,
)
from core.settings import Settings
from tests.integration.conftest import CONFIG, Portal, add_payer, serve
from tests.plugins import extra_menu, extra_tables
from tests.plugins.extra_tables.tables import Child

EXTRA = [(extra_menu.PLUGIN_NAME, extra_menu)]
EXTRA_TABLES = [(extra_tables.PLUGIN_NAME, extra_tables)]
ROOT = Path(__file__).resolve().parents[2]
KNOWN_WITH_EXTRA = {
    **collect_plugin_settings(get_plugin_manager(load_entry_points=False)),
    extra_menu.PLUGIN_NAME: extra_menu.ExtraMenuSettings,
}


def config_with(**tables: dict[str, Any]) -> PortalConfig:
    """The test configuration, with `[communes.plugins.extra_menu]` = `tables[slug]`."""
    raw = copy.deepcopy(CONFIG)
    for commune in raw["communes"]:
        if commune["slug"] in tables:
            commune["plugins"][extra_menu.PLUGIN_NAME] = tables[commune["slug"]]
    return parse_config(raw, KNOWN_WITH_EXTRA)


@contextlib.asynccontextmanager
async def open_portal(
    settings: Settings,
    sink: MailSink,
    config: PortalConfig,
    extra_plugins: list[tuple[str, object]] = EXTRA,
) -> AsyncIterator[Portal]:
    app = create_app(settings, config=config, extra_plugins=extra_plugins)
    sink.clear()
    async with serve(app) as client:
        yield Portal(client=client, sink=sink, settings=settings)


@pytest.fixture
async def extra_portal(
    clean_db: Engine, settings: Settings, mail_sink: MailSink
) -> AsyncIterator[Portal]:
    """The portal with the fake plugin registered and enabled for `boe` only."""
    async with open_portal(settings, mail_sink, config_with(boe={})) as portal:
        yield portal


async def sign_in(portal: Portal, slug: str, email: str) -> None:
    await add_payer(slug, f"{slug.upper()}1", "Famille Martin", email)
    await portal.activate(slug, email)  # activation logs the parent in


# --- One test per hook (names checked by tests/unit/test_docs.py) -----------------------------


def test_hook_register_plugin_settings() -> None:
    pm = get_plugin_manager(EXTRA, load_entry_points=False)
    types = collect_plugin_settings(pm)
    assert types[extra_menu.PLUGIN_NAME] is extra_menu.ExtraMenuSettings

    # The registered type validates the commune's table...
    config = config_with(boe={"label": "Nos enfants", "order": 5})
    assert config.commune("boe").plugins["extra_menu"] == {"label": "Nos enfants", "order": 5}
    with pytest.raises(ConfigError, match=r"communes\[0\]\.plugins\.extra_menu\.order: "):
        config_with(boe={"order": "premier"})
    with pytest.raises(ConfigError, match=r"plugins\.extra_menu\.colour: unknown key"):
        config_with(boe={"colour": "#ffffff"})
    # ...and without the plugin, its table is an unknown plugin.
    raw = copy.deepcopy(CONFIG)
    raw["communes"][0]["plugins"]["extra_menu"] = {}
    with pytest.raises(ConfigError, match=r"unknown plugin 'extra_menu'"):
        parse_config(raw, collect_plugin_settings(get_plugin_manager(load_entry_points=False)))


async def test_hook_register_routes(extra_portal: Portal) -> None:
    response = await extra_portal.client.get("/boe/enfants")
    assert response.status_code == 200
    assert "Les enfants inscrits à Ville de Boé" in response.text
    # The route is mounted for the whole process; the plugin answers only where it is enabled.
    assert (await extra_portal.client.get("/aure/enfants")).status_code == 404


def test_hook_template_directories(settings: Settings) -> None:
    app = create_app(settings, config=config_with(boe={}), extra_plugins=EXTRA)
    env = app.state.portal.env
    assert "extra_menu/children.html" in env.list_templates()
    source, filename, _ = env.loader.get_source(env, "extra_menu/section.html")
    assert filename.startswith(str(extra_menu.TEMPLATES_DIR))
    assert 'id="extra-menu-section"' in source
    # Core templates still come first, and plugin templates can extend them.
    assert env.get_template("base.html").filename.endswith("templates/base.html")
    assert env.get_template("extra_menu/children.html").render  # it compiles


async def test_hook_register_piccolo_apps(
    clean_db: Engine, settings: Settings, mail_sink: MailSink
) -> None:
    """A plugin's table is migrated and usable with nothing outside its folder naming it."""
    pm = get_plugin_manager(EXTRA_TABLES, load_entry_points=False)
    apps = piccolo_apps(pm)
    assert apps[0] == CORE_APP  # the core's migrations run first
    assert {extra_tables.PICCOLO_APP, "plugins.tipi_legacy.piccolo_app"} <= set(apps)
    assert extra_tables.PICCOLO_APP not in piccolo_apps(get_plugin_manager(load_entry_points=False))

    raw = copy.deepcopy(CONFIG)
    raw["communes"][0]["plugins"][extra_tables.PLUGIN_NAME] = {}  # boe only
    config = parse_config(raw, collect_plugin_settings(pm))
    previous = db.use_apps(app_registry(pm))
    try:
        await db.migrate()
        assert Child in db.all_tables()
        await Child.insert(Child(name="Léa"), Child(name="Hugo")).run()
        async with open_portal(settings, mail_sink, config, EXTRA_TABLES) as portal:
            page = await portal.client.get("/boe/inscrits")
            elsewhere = await portal.client.get("/aure/inscrits")
        await db.migrate()  # nothing left to do
    finally:
        await Child.delete(force=True).run()
        db.use_apps(previous)
    assert page.status_code == 200
    assert "<title>Enfants inscrits</title>" in page.text  # its catalogue, in its template
    assert "Les enfants inscrits à Ville de Boé" in page.text
    assert "<li>Hugo</li>\n  <li>Léa</li>" in page.text  # rows of its own table
    assert elsewhere.status_code == 404
    assert Child not in db.all_tables()  # the process's apps are back to the built-in ones


def test_piccolo_command_line_sees_the_plugins_apps(tmp_path: Path) -> None:
    """`piccolo migrations forwards all` (PICCOLO_CONF=core.piccolo_conf) migrates the built-in
    plugins' tables too: `APP_REGISTRY` comes from `register_piccolo_apps`."""
    database = tmp_path / "piccolo.sqlite"
    env = {
        **os.environ,
        "PICCOLO_CONF": "core.piccolo_conf",
        "DATABASE_URL": f"sqlite:///{database}",
    }
    piccolo = Path(sys.executable).with_name("piccolo")
    subprocess.run(  # noqa: S603 - our own virtualenv's command, fixed arguments
        [str(piccolo), "migrations", "forwards", "all"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    with contextlib.closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT DISTINCT app_name FROM migration").fetchall()
    assert {name for (name,) in rows} == {"core", "backoffice", "paper_optout", "tipi_legacy"}


def test_hook_register_catalogues(tmp_path: Path) -> None:
    catalogue = tmp_path / "extra_catalogue.toml"
    catalogue.write_text('greeting = "Bonjour {name}"\n', encoding="utf-8")

    class Catalogue:
        @hookimpl
        def register_catalogues(self) -> list[str]:
            return [str(catalogue)]

    plugin = Catalogue()
    assert not i18n.has("extra_catalogue.greeting")  # a plugin object alone adds nothing
    get_plugin_manager([("catalogue", plugin)], load_entry_points=False)
    assert i18n.t("extra_catalogue.greeting", name="Claire") == "Bonjour Claire"

    # The fake plugin's file and the built-ins' directories, loaded the same way.
    get_plugin_manager(EXTRA_TABLES, load_entry_points=False)
    assert i18n.t("extra_tables.heading", commune="Boé") == "Les enfants inscrits à Boé"
    assert i18n.has("prelevement.notice") and i18n.has("payfip.fault.A1")
    assert i18n.has("flash.paper_optout_on") and i18n.has("flash.password_changed")


async def test_hook_menu_items(extra_portal: Portal) -> None:
    await sign_in(extra_portal, "boe", "claire@example.org")
    home = await extra_portal.client.get("/boe/")
    assert '<a class="tile" href="/boe/enfants">Mes enfants</a>' in home.text
    assert '<a href="/boe/enfants">Mes enfants</a>' in home.text  # the main menu
    # Core entries (order 10, 20, 30) come first, the plugin's (order 40) after them.
    positions = [home.text.index(label) for label in ("Mes factures", "Contact", "Mes enfants")]
    assert positions == sorted(positions)


async def test_hook_menu_items_is_asked_once_per_commune(
    clean_db: Engine, settings: Settings, mail_sink: MailSink
) -> None:
    """Its answer depends on the configuration only: kept after the first page, it costs no
    pluggy call or sort on the pages after (`core.web.pages.parent_menu`)."""
    app = create_app(settings, config=config_with(boe={}), extra_plugins=EXTRA)
    asked: list[str] = []

    def before(hook_name: str, hook_impls: Any, kwargs: dict[str, Any]) -> None:
        if hook_name == "menu_items":
            asked.append(kwargs["commune"].slug)

    undo = app.state.portal.pm.add_hookcall_monitoring(before, lambda *args: None)
    try:
        async with serve(app) as client:
            portal = Portal(client=client, sink=mail_sink, settings=settings)
            await sign_in(portal, "boe", "claire@example.org")
            for path in ("/boe/", "/boe/factures", "/boe/contact", "/boe/"):
                assert "Mes enfants" in (await client.get(path)).text
    finally:
        undo()
    assert asked == ["boe"]


async def test_hook_menu_items_uses_the_communes_plugin_settings(
    clean_db: Engine, settings: Settings, mail_sink: MailSink
) -> None:
    config = config_with(boe={"label": "Nos enfants", "order": 1})
    async with open_portal(settings, mail_sink, config) as portal:
        await sign_in(portal, "boe", "claire@example.org")
        home = (await portal.client.get("/boe/")).text
    assert "Nos enfants" in home and "Mes enfants" not in home
    assert home.index("Nos enfants") < home.index("Mes factures")


@pytest.mark.parametrize(
    ("table", "shown"), [({}, True), ({"enabled": True}, True), ({"enabled": False}, False)]
)
async def test_hook_account_sections(
    clean_db: Engine,
    settings: Settings,
    mail_sink: MailSink,
    table: dict[str, Any],
    shown: bool,
) -> None:
    async with open_portal(settings, mail_sink, config_with(boe=table)) as portal:
        await sign_in(portal, "boe", "claire@example.org")
        page = await portal.client.get("/boe/mes-informations")
    assert page.status_code == 200
    assert "Mon mot de passe" in page.text  # the core sections are always there
    assert ('id="extra-menu-section"' in page.text) is shown
    if shown:
        assert "Section ajoutée par le greffon de test pour claire@example.org" in page.text


# --- Per-commune scoping ---------------------------------------------------------------------


async def test_a_plugin_enabled_for_one_commune_is_invisible_to_the_others(
    extra_portal: Portal,
) -> None:
    await sign_in(extra_portal, "boe", "claire@example.org")
    boe = await extra_portal.client.get("/boe/")
    assert "Mes enfants" in boe.text

    await sign_in(extra_portal, "aure", "claire@example.org")
    aure = await extra_portal.client.get("/aure/")
    assert "Bienvenue sur le portail des factures" in aure.text  # logged in at aure too
    assert "Mes factures" in aure.text
    assert "Mes enfants" not in aure.text
    details = await extra_portal.client.get("/aure/mes-informations")
    assert details.status_code == 200 and "extra-menu-section" not in details.text


async def test_commune_hooks_leave_out_disabled_plugins() -> None:
    pm = get_plugin_manager(EXTRA, load_entry_points=False)
    config = config_with(boe={})
    boe, aure = (CommuneHooks(pm, c.enabled_plugins()) for c in config.communes)

    class Commune:
        def __init__(self, hooks: CommuneHooks) -> None:
            self.hooks = hooks

        def settings_of(self, name: str) -> Any:
            return collect_plugin_settings(pm)[name]()  # each plugin's defaults

        def kept(self, name: str, compute: Any) -> Any:  # as `CommuneContext.kept`, unkept
            return compute()

    def labels(hooks: CommuneHooks) -> list[str]:
        return [i.label for items in hooks.menu_items(commune=Commune(hooks)) for i in items]

    assert "Mes enfants" in labels(boe)
    assert "Mes enfants" not in labels(aure)
    # The always-on core menu stays, with "Mes paiements" (aure enables TIPI).
    assert labels(aure) == ["Mes factures", "Mes informations", "Contact", "Aide", "Mes paiements"]
    # Only the always-on core's own section (news by e-mail): no plugin's.
    assert aure.account_sections(commune=Commune(aure)) == [["news_alerts/_section.html"]]
    assert boe.menu_items is boe.menu_items  # one caller per commune and hook


# --- Registration rules ----------------------------------------------------------------------


def test_builtin_plugins_are_registered_with_their_settings_types() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    for name, _ in (*ALWAYS_ON_PLUGINS, *BUILTIN_PLUGINS):
        assert pm.has_plugin(name)
    types = collect_plugin_settings(pm)
    assert set(types) >= {"payfip", "tipi_legacy", "paper_optout", "prelevement"}
    for name in ("payfip", "tipi_legacy", "paper_optout", "prelevement"):
        assert issubclass(types[name], msgspec.Struct)
        msgspec.convert({}, types[name])  # every setting has a default


def test_settings_registered_twice_are_refused() -> None:
    pm = get_plugin_manager(load_entry_points=False)

    class Impostor:
        @hookimpl
        def register_plugin_settings(self, register: Callable[[str, type], None]) -> None:
            register("payfip", dict)

    pm.register(Impostor(), name="impostor")
    try:
        with pytest.raises(ValueError, match="plugin settings 'payfip' registered twice"):
            collect_plugin_settings(pm)
    finally:
        pm.unregister(name="impostor")
    assert collect_plugin_settings(pm)["payfip"].__name__ == "PayfipSettings"


def test_a_plugin_implementing_an_undeclared_hook_is_rejected() -> None:
    class Typo:
        @hookimpl
        def menu_item(self, commune: object) -> list[MenuItem]:  # no such hook
            return []

    pm = get_plugin_manager(load_entry_points=False)
    pm.register(Typo(), name="typo")
    try:
        with pytest.raises(pluggy.PluginValidationError, match="menu_item"):
            pm.check_pending()
    finally:
        pm.unregister(name="typo")
    pm.check_pending()

    # get_plugin_manager checks pending hooks itself, so such a plugin never starts.
    with pytest.raises(pluggy.PluginValidationError):
        get_plugin_manager([("typo", Typo())], load_entry_points=False)


def test_a_hook_implementation_with_an_unknown_argument_is_rejected() -> None:
    class Greedy:
        @hookimpl
        def menu_items(self, commune: object, account: object) -> list[MenuItem]:
            return []

    pm = get_plugin_manager(load_entry_points=False)
    try:
        with pytest.raises(pluggy.PluginValidationError, match="account"):
            pm.register(Greedy(), name="greedy")
    finally:
        if pm.has_plugin("greedy"):
            pm.unregister(name="greedy")


def test_tracing_logs_hook_calls(caplog: pytest.LogCaptureFixture) -> None:
    pm = get_plugin_manager(EXTRA, load_entry_points=False, trace=True)
    with caplog.at_level("INFO", logger="core.plugins"):
        pm.hook.template_directories()
    assert "template_directories" in caplog.text


async def test_hook_backoffice_sections(extra_portal: Portal) -> None:
    from tests.integration.backoffice.web import signed_in_agent

    await signed_in_agent(extra_portal, "boe", "gestion@boe.test", "gestionnaire")
    dashboard = (await extra_portal.client.get("/boe/gestion/")).text
    assert '<a href="/boe/gestion/enfants/">Enfants inscrits</a>' in dashboard
    assert dashboard.index("Tableau de bord") < dashboard.index("Enfants inscrits")
    section = await extra_portal.client.get("/boe/gestion/enfants/")
    assert section.status_code == 200 and "<h1>Enfants inscrits</h1>" in section.text, section.text
    assert 'aria-current="page">Enfants inscrits' in section.text, section.text[:3000]
    # Aure does not enable the plugin: no entry, and its section is not found.
    await signed_in_agent(extra_portal, "aure", "gestion@aure.test", "gestionnaire")
    aure = (await extra_portal.client.get("/aure/gestion/")).text
    assert "Enfants inscrits" not in aure
    assert (await extra_portal.client.get("/aure/gestion/enfants/")).status_code == 404
