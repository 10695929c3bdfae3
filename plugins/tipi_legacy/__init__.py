"""TIPI, the legacy plain-URL mode of the State's payment service (`paiement.web`).

Enabled per commune with `[communes.plugins.tipi_legacy]`. The payment flow and the personal
"Marquer la facture comme réglée" note come with the online-payment issue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from core.hookspecs import hookimpl

PLUGIN_NAME = "tipi_legacy"


class TipiSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    payment_url: str = "https://www.payfip.gouv.fr/tpa/paiement.web"
    saisie: Literal["T", "X", "A", "M"] = "A"  # T test, X activation, A production (payfip.md §1)


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, TipiSettings)
