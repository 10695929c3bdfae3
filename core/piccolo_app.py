"""Piccolo app of the core tables; plugins owning tables declare their own app depending on it."""

import os

from piccolo.conf.apps import AppConfig

from core.accounts.tables import (
    Account,
    AccountPayer,
    AccountToken,
    Payer,
    PayerEmail,
    WebSession,
)
from core.alert_addresses.tables import AlertAddress
from core.announcements.tables import Announcement, MessageDismissal
from core.communes.tables import Commune, Regie
from core.contact.tables import ContactMessage
from core.invoices.tables import Invoice
from core.mail.tables import OutboundEmail
from core.news_alerts.tables import NewsAlertSubscription, NewsMailing
from core.payments.tables import PaymentAttempt, PaymentAttemptInvoice
from core.security.tables import Throttle

APP_CONFIG = AppConfig(
    app_name="core",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        Commune,
        Regie,
        Payer,
        PayerEmail,
        Account,
        AccountPayer,
        AccountToken,
        WebSession,
        Throttle,
        OutboundEmail,
        Invoice,
        Announcement,
        MessageDismissal,
        ContactMessage,
        AlertAddress,
        PaymentAttempt,
        PaymentAttemptInvoice,
        NewsAlertSubscription,
        NewsMailing,
    ],
    migration_dependencies=[],
    commands=[],
)
