"""Piccolo's configuration module (PICCOLO_CONF=core.piccolo_conf).

`DB` follows DATABASE_URL; `APP_REGISTRY` holds the core's app and the apps the plugins register
(built-in plugins and installed entry points, see `core.migrations`). The application replaces
them through `core.db.use_database()` and `core.db.use_apps()`.
"""

import os

from core.engines import engine_for
from core.migrations import app_registry
from core.plugins import get_plugin_manager

DB = engine_for(os.environ.get("DATABASE_URL", "sqlite:///var/portail.sqlite"))

APP_REGISTRY = app_registry(get_plugin_manager())
