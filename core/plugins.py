"""The plugin manager: built-in plugins, in-repo plugins and third-party entry points.

Every plugin is registered once for the process. A commune runs only the plugins its
configuration enables: hooks are called through `CommuneHooks`, a per-commune proxy built on
`pm.subset_hook_caller` (the way pytest scopes conftest plugins to a directory).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

import pluggy

from core import hookspecs, i18n

logger = logging.getLogger(__name__)

# Core features written as plugins: always on, for every commune.
ALWAYS_ON_PLUGINS: tuple[tuple[str, str], ...] = (
    ("core-menu", "core.menu"),
    ("core-invoices", "core.invoices.default_actions"),
    ("core-backoffice", "core.backoffice.sections"),
    ("core-news-alerts", "core.news_alerts.hooks"),
)

# Optional built-in plugins, enabled per commune by `[communes.plugins.<name>]`.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("payfip", "plugins.payfip"),
    ("tipi_legacy", "plugins.tipi_legacy"),
    ("paper_optout", "plugins.paper_optout"),
    ("prelevement", "plugins.prelevement"),
)

ENTRY_POINT_GROUP = "portail"


def get_plugin_manager(
    extra_plugins: Iterable[tuple[str, object]] = (),
    *,
    load_entry_points: bool = True,
    trace: bool = False,
) -> pluggy.PluginManager:
    """Build a plugin manager with the built-ins, `extra_plugins` and installed entry points, and
    load the message catalogues they register.

    :param extra_plugins: (name, plugin object) pairs, e.g. test plugins.
    :param trace: log every hook call (PORTAIL_TRACE_PLUGINS).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name, module_path in (*ALWAYS_ON_PLUGINS, *BUILTIN_PLUGINS):
        pm.register(importlib.import_module(module_path), name=name)
    for name, plugin in extra_plugins:
        pm.register(plugin, name=name)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    load_catalogues(pm)
    if trace:
        pm.trace.root.setwriter(logger.info)
        pm.enable_tracing()
    return pm


def load_catalogues(pm: pluggy.PluginManager) -> None:
    """Add the message catalogues of every `register_catalogues` implementation to `core.i18n`."""
    for catalogues in pm.hook.register_catalogues():
        for catalogue in catalogues:
            i18n.add_catalogue(Path(catalogue))


def always_on(pm: pluggy.PluginManager) -> set[str]:
    return {name for name, _ in ALWAYS_ON_PLUGINS if pm.has_plugin(name)}


def collect_plugin_settings(pm: pluggy.PluginManager) -> dict[str, type]:
    """Plugin name -> settings type, from every `register_plugin_settings` implementation."""
    registered: dict[str, type] = {}

    def register(name: str, settings_type: type) -> None:
        if name in registered:
            raise ValueError(f"plugin settings {name!r} registered twice")
        registered[name] = settings_type

    pm.hook.register_plugin_settings(register=register)
    return registered


class CommuneHooks:
    """`pm.hook` as one commune sees it: plugins it does not enable are left out."""

    def __init__(self, pm: pluggy.PluginManager, enabled: set[str]) -> None:
        self._pm = pm
        self._enabled = enabled | always_on(pm)

    @cached_property
    def _disabled_plugins(self) -> list[Any]:
        return [
            plugin
            for name, plugin in self._pm.list_name_plugin()
            if name not in self._enabled and plugin is not None
        ]

    @property
    def all_plugins(self) -> Any:
        """`pm.hook` with every registered plugin, enabled for this commune or not: for hooks
        about data a plugin keeps after it is switched off (`account_data_export`...)."""
        return self._pm.hook

    def __getattr__(self, hook_name: str) -> Any:
        caller = self._pm.subset_hook_caller(hook_name, remove_plugins=self._disabled_plugins)
        setattr(self, hook_name, caller)  # cache: built once per commune and hook
        return caller
