"""Piccolo's configuration module (PICCOLO_CONF=core.piccolo_conf).

`DB` follows DATABASE_URL; the application replaces it through `core.db.use_database()`.
"""

import os

from piccolo.conf.apps import AppRegistry

from core.db import engine_for

DB = engine_for(os.environ.get("DATABASE_URL", "sqlite:///var/portail.sqlite"))

APP_REGISTRY = AppRegistry(
    apps=[
        "core.piccolo_app",
        "core.backoffice.piccolo_app",
        "plugins.paper_optout.piccolo_app",
        "plugins.tipi_legacy.piccolo_app",
    ]
)
