"""Getting a process ready: the configuration checked as a whole, the communes as handlers see
them, the database migrated. Used by the app factory and by every `portail` command."""

from __future__ import annotations

import pluggy

from core import db
from core.communes.context import CommuneContext
from core.config import ConfigError, PortalConfig, load_config, plugin_settings
from core.payments.providers import check_providers
from core.plugins import CommuneHooks, collect_plugin_settings, get_plugin_manager
from core.settings import Settings


def commune_contexts(
    config: PortalConfig, pm: pluggy.PluginManager, plugin_types: dict[str, type]
) -> dict[str, CommuneContext]:
    """Each commune as handlers and hooks see it, by slug: its hooks, its plugins' typed
    settings; its row id is 0 until the database is read (`sync_communes`)."""
    return {
        c.slug: CommuneContext(
            id=0,
            config=c,
            hooks=CommuneHooks(pm, c.enabled_plugins()),
            plugin_settings={
                name: plugin_settings(c, name, plugin_types[name]) for name in c.enabled_plugins()
            },
        )
        for c in config.communes
    }


def provider_problems(communes: dict[str, CommuneContext]) -> list[str]:
    """Configuration problems only the plugins can tell (which service pays each régie)."""
    return [problem for commune in communes.values() for problem in check_providers(commune)]


def load_checked_config(path: str, notices: list[str] | None = None) -> PortalConfig:
    """The configuration, with what only the plugins can check (each régie's payment service).

    :param notices: receives the deprecation notices; without it, they are logged."""
    pm = get_plugin_manager()
    plugin_types = collect_plugin_settings(pm)
    config = load_config(path, plugin_types, notices)
    problems = provider_problems(commune_contexts(config, pm, plugin_types))
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return config


async def migrate(settings: Settings) -> None:
    """Apply the pending migrations of `settings.database_url`, then close the database."""
    engine = db.use_database(settings.database_url)
    await db.open_database(engine)
    try:
        await db.migrate()
    finally:
        await db.close_database(engine)
