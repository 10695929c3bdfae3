"""TIPI, the legacy plain-URL mode of the State's payment service (`paiement.web`).

Enabled per commune with `[communes.plugins.tipi_legacy]`. A payment provider
(`payment_providers`) that sends the parent to `paiement.web` with the debt in the query string
(numcli, exer, refdet, objet, montant, mel, urlcl, saisie). The service cannot be asked for a
result, and its return is not signed (payfip.md §1): `routes.py` checks refdet, amount, numcli
and saisie against the stored attempt and records a "paid" as declared, to be confirmed by the
next import; nothing is settled.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

import msgspec

from core.hookspecs import PaymentOutcome, PaymentRedirect, PaymentRequest, hookimpl
from core.payments.providers import url_origin

if TYPE_CHECKING:
    from core.communes.context import CommuneContext

PLUGIN_NAME = "tipi_legacy"
MAX_AMOUNT_CENTS = 999_999  # 9 999,99 €, as eopayment's TIPI backend allows


@hookimpl
def register_catalogues() -> list[Path]:
    return [Path(__file__).resolve().parent / "locale" / "fr"]


@hookimpl
def register_piccolo_apps() -> list[str]:
    return ["plugins.tipi_legacy.piccolo_app"]


class TipiSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    payment_url: str = "https://www.payfip.gouv.fr/tpa/paiement.web"
    saisie: Literal["T", "X", "A", "M"] = "A"  # T test, X activation, A production (payfip.md §1)


class TipiProvider:
    name = PLUGIN_NAME
    label = "TIPI"
    verifies_results = False
    max_amount_cents = MAX_AMOUNT_CENTS

    def __init__(self, settings: TipiSettings) -> None:
        self.settings = settings
        self.form_origins = (url_origin(settings.payment_url),)

    async def start(self, request: PaymentRequest) -> PaymentRedirect:
        query = {
            "numcli": request.numcli,
            "exer": request.exer,
            "refdet": request.refdet,
            "objet": request.objet,
            "montant": str(request.amount_cents),
            "mel": request.email,
            "urlcl": request.base_url.rstrip("/") + request.commune.url("tipi/retour"),
            "saisie": self.settings.saisie,
        }
        return PaymentRedirect(
            url=f"{self.settings.payment_url}?{urlencode(query)}", saisie=self.settings.saisie
        )

    async def fetch_outcome(self, provider_reference: str) -> PaymentOutcome:
        return PaymentOutcome(result="pending")  # TIPI cannot be asked


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, TipiSettings)


@hookimpl
def payment_providers(commune: CommuneContext) -> list[TipiProvider]:
    return [TipiProvider(commune.settings_of(PLUGIN_NAME))]


@hookimpl
def register_routes() -> list[Any]:
    from plugins.tipi_legacy.note_routes import TipiNoteController
    from plugins.tipi_legacy.routes import TipiController

    return [TipiController, TipiNoteController]


# --- The personal note "j'ai réglé cette facture" (notes.py, note_routes.py) ------------------


@hookimpl
def template_directories() -> list[str]:
    return [str(Path(__file__).resolve().parent / "templates")]


@hookimpl
def invoice_actions(
    commune: CommuneContext, invoice: InvoiceView, account: SignedIn
) -> Coroutine[Any, Any, list[InvoiceAction]]:
    """The note's notice and the link to mark or unmark it, on an invoice still to pay (an
    awaitable: the note is read from the database)."""
    from plugins.tipi_legacy import notes

    return notes.invoice_actions(commune, invoice, account)


if TYPE_CHECKING:  # for the annotations above, which are postponed (`from __future__`)
    from core.accounts.sessions import SignedIn
    from core.hookspecs import InvoiceAction
    from core.invoices.services import InvoiceView
