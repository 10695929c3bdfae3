"""The core entries of the parent's menu, written as a plugin so others can add theirs."""

from __future__ import annotations

from core.communes.context import CommuneContext
from core.hookspecs import MenuItem, hookimpl
from core.i18n import t
from core.payments.providers import providers


@hookimpl(trylast=True)
def menu_items(commune: CommuneContext) -> list[MenuItem]:
    items = [
        MenuItem(label=t("menu.invoices"), path="factures", order=10),
        MenuItem(label=t("menu.account"), path="mes-informations", order=20),
        MenuItem(label=t("menu.contact"), path="contact", order=30),
        MenuItem(label=t("menu.help"), path="aide", order=90),
    ]
    if providers(commune):
        items.append(MenuItem(label=t("menu.payments"), path="paiements", order=15))
    return items
