"""The core sections of the back-office menu, written as a plugin so others can add theirs."""

from __future__ import annotations

from core.communes.context import CommuneContext
from core.hookspecs import BackofficeSection, hookimpl
from core.i18n import t


@hookimpl(trylast=True)
def backoffice_sections(commune: CommuneContext) -> list[BackofficeSection]:
    return [
        BackofficeSection(t("backoffice.menu.dashboard"), "", "dashboard.read", order=10),
        BackofficeSection(t("backoffice.imports.menu"), "imports", "invoices.import", order=20),
        BackofficeSection(t("backoffice.payments.menu"), "paiements", "payments.read", order=30),
        BackofficeSection(
            t("backoffice.online_payment.menu"), "paiement-en-ligne", "payments.read", order=40
        ),
        BackofficeSection(
            t("announcements.backoffice.menu_message"),
            "message-important",
            "messages.write",
            order=50,
        ),
        BackofficeSection(
            t("announcements.backoffice.menu_news"), "actualites", "messages.write", order=60
        ),
        BackofficeSection(t("contact.backoffice.menu"), "messages", "contact.read", order=70),
        BackofficeSection(t("backoffice.menu.families"), "familles", "families.read", order=80),
        BackofficeSection(
            t("backoffice.menu.invitations"), "invitations", "families.invite", order=85
        ),
        BackofficeSection(t("backoffice.menu.agents"), "agents", "agents.manage", order=95),
        BackofficeSection(t("backoffice.menu.journal"), "journal", "journal.read", order=100),
    ]
