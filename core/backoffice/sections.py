"""The core sections of the back-office menu, written as a plugin so others can add theirs."""

from __future__ import annotations

from core.communes.context import CommuneContext
from core.hookspecs import BackofficeSection, hookimpl
from core.i18n import t


@hookimpl(trylast=True)
def backoffice_sections(commune: CommuneContext) -> list[BackofficeSection]:
    return [
        BackofficeSection(t("backoffice.menu.dashboard"), "", "dashboard.read", order=10),
        BackofficeSection(t("backoffice.menu.families"), "familles", "families.read", order=80),
        BackofficeSection(
            t("backoffice.menu.invitations"), "invitations", "families.invite", order=85
        ),
        BackofficeSection(t("backoffice.menu.agents"), "agents", "agents.manage", order=95),
        BackofficeSection(t("backoffice.menu.journal"), "journal", "journal.read", order=100),
    ]
