"""Piccolo app of the fake plugin's table; its migrations run after the core ones."""

import os

from piccolo.conf.apps import AppConfig

from tests.plugins.extra_tables.tables import Child

APP_CONFIG = AppConfig(
    app_name="extra_tables",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[Child],
    migration_dependencies=["core.piccolo_app"],
    commands=[],
)
