"""Prélèvement automatique: invoices paid by automatic direct debit are shown with their debit
date and never offered for online payment. The display comes with the invoices issue.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from core.hookspecs import hookimpl

PLUGIN_NAME = "prelevement"


class PrelevementSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, PrelevementSettings)
