"""PayFiP: the State's online payment service (card or prélèvement), through its SOAP web service.

Enabled per commune with `[communes.plugins.payfip]`; each régie brings its own client number
(numcli). The payment flow itself comes with the online-payment issue; for now the plugin
declares and validates its settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from core.hookspecs import hookimpl

PLUGIN_NAME = "payfip"


class PayfipSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    web_service_url: str = "https://www.payfip.gouv.fr/tpa/services/securite"
    payment_url: str = "https://www.payfip.gouv.fr/tpa/paiementws.web"
    saisie: Literal["T", "X", "W"] = "W"  # T test, X activation, W production (payfip.md §3)


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, PayfipSettings)
