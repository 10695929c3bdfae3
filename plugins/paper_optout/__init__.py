"""Paper opt-out: a parent asks to stop receiving paper invoices ("Ne pas recevoir les factures
au format papier"); the billing service is told by e-mail. The page section comes with the
"Mes factures and the parent's space" issue.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from core.hookspecs import hookimpl

PLUGIN_NAME = "paper_optout"


class PaperOptoutSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    notify_email: str = ""  # where requests go; empty: the commune's contact address


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, PaperOptoutSettings)
