"""Piccolo app of the TIPI plugin's table; its migrations run after the core ones."""

import os

from piccolo.conf.apps import AppConfig

from plugins.tipi_legacy.tables import InvoiceNote

APP_CONFIG = AppConfig(
    app_name="tipi_legacy",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[InvoiceNote],
    migration_dependencies=["core.piccolo_app"],
    commands=[],
)
