"""The Piccolo apps whose tables the portal has: the core's, then those the plugins register.

A plugin owning tables gives its app with the `register_piccolo_apps` hook, so `portail migrate`
and Piccolo's own `piccolo migrations` command (through `core.piccolo_conf`) run its migrations
without anything outside the plugin's folder naming it.
"""

from __future__ import annotations

import pluggy
from piccolo.conf.apps import AppRegistry

CORE_APP = "core.piccolo_app"
# The core's own apps, always there: its tables, then the agents' back office.
CORE_APPS = (CORE_APP, "core.backoffice.piccolo_app")


def piccolo_apps(pm: pluggy.PluginManager) -> list[str]:
    """The core's app modules, then each one a plugin registers (once each, in hook order)."""
    apps = list(CORE_APPS)
    for registered in pm.hook.register_piccolo_apps():
        for app in registered:
            if app not in apps:
                apps.append(app)
    return apps


def app_registry(pm: pluggy.PluginManager) -> AppRegistry:
    """Piccolo's registry of the apps of `pm`'s plugins (their migrations run after the core's:
    each app declares `migration_dependencies=["core.piccolo_app"]`)."""
    return AppRegistry(apps=piccolo_apps(pm))
