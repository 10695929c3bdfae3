"""PayFiP: the State's online payment service (card or prélèvement), through its SOAP web service.

Enabled per commune with `[communes.plugins.payfip]`; each régie brings its own client number
(numcli). The plugin is a payment provider (`payment_providers`, `provider.py`): it creates the
operation (`creerPaiementSecurise`), sends the parent to `paiementws.web?idop=…`, and reads
results with `recupererDetailPaiementSecurise`, the only source it trusts. The service's
notification and the browser's return come to the core's routes
(`core.payments.service_routes`); the provider only reads the idop they name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from core.hookspecs import hookimpl
from plugins.payfip.provider import PLUGIN_NAME, PayfipProvider, PayfipSettings

if TYPE_CHECKING:
    from core.communes.context import CommuneContext


@hookimpl
def register_catalogues() -> list[Path]:
    return [Path(__file__).resolve().parent / "locale" / "fr"]


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, PayfipSettings)


@hookimpl
def payment_providers(commune: CommuneContext) -> list[PayfipProvider]:
    return [PayfipProvider(commune.settings_of(PLUGIN_NAME))]
