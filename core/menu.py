"""The core entries of the parent's menu, written as a plugin so others can add theirs."""

from __future__ import annotations

from core.hookspecs import MenuItem, hookimpl
from core.i18n import t


@hookimpl(trylast=True)
def menu_items() -> list[MenuItem]:
    return [
        MenuItem(label=t("menu.invoices"), path="factures", order=10),
        MenuItem(label=t("menu.account"), path="mes-informations", order=20),
        MenuItem(label=t("menu.contact"), path="contact", order=30),
    ]
