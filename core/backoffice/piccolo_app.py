"""Piccolo app of the back office's tables; its migrations run after the core ones."""

import os

from piccolo.conf.apps import AppConfig

from core.backoffice.tables import (
    Agent,
    AgentRecoveryCode,
    AgentSession,
    AgentToken,
    ApiKey,
    ContactReply,
    ImportJob,
    Invitation,
    JournalEntry,
    PaymentReview,
    PaymentSuspension,
)

APP_CONFIG = AppConfig(
    app_name="backoffice",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        Agent,
        AgentToken,
        AgentSession,
        AgentRecoveryCode,
        JournalEntry,
        ApiKey,
        PaymentSuspension,
        ImportJob,
        PaymentReview,
        ContactReply,
        Invitation,
    ],
    migration_dependencies=["core.piccolo_app"],
    commands=[],
)
