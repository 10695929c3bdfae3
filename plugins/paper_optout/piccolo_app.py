"""Piccolo app of the paper opt-out plugin's table; its migrations run after the core ones."""

import os

from piccolo.conf.apps import AppConfig

from plugins.paper_optout.tables import PaperPreference

APP_CONFIG = AppConfig(
    app_name="paper_optout",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[PaperPreference],
    migration_dependencies=["core.piccolo_app"],
    commands=[],
)
