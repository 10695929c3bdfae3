"""PayFiP: the State's online payment service (card or prélèvement), through its SOAP web service.

Enabled per commune with `[communes.plugins.payfip]`; each régie brings its own client number
(numcli). The plugin is a payment provider (`payment_providers`): it creates the operation
(`creerPaiementSecurise`), sends the parent to `paiementws.web?idop=…`, and reads results with
`recupererDetailPaiementSecurise`, the only source it trusts. Its routes (`routes.py`) receive
the service's notification and the browser's return; both only name an idop, and the core asks
the service about it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from core.hookspecs import (
    PaymentOutcome,
    PaymentRedirect,
    PaymentRequest,
    PaymentStartFailed,
    hookimpl,
)
from core.i18n import has, t
from core.payments.providers import url_origin

if TYPE_CHECKING:
    from core.communes.context import CommuneContext

PLUGIN_NAME = "payfip"


@hookimpl
def register_catalogues() -> list[Path]:
    return [Path(__file__).resolve().parent / "locale" / "fr"]


class PayfipSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    web_service_url: str = "https://www.payfip.gouv.fr/tpa/services/securite"
    payment_url: str = "https://www.payfip.gouv.fr/tpa/paiementws.web"
    saisie: Literal["T", "X", "W"] = "W"  # T test, X activation, W production (payfip.md §2)
    # Régie code -> its own saisie, for a régie going live before (or after) the others.
    saisie_by_regie: dict[str, Literal["T", "X", "W"]] = msgspec.field(default_factory=dict)
    timeout: float = 15.0  # seconds, for each call to the web service

    def saisie_for(self, regie_code: str) -> str:
        return self.saisie_by_regie.get(regie_code, self.saisie)


# resultrans -> (result, by direct debit); any other code goes to review (payfip.md §3).
RESULTS: dict[str, tuple[Any, bool]] = {
    "P": ("paid", False),
    "V": ("paid", True),
    "R": ("refused", False),
    "Z": ("refused", True),
    "A": ("abandoned", False),
}
MAX_AMOUNT_CENTS = 9_999_999


class PayfipProvider:
    name = PLUGIN_NAME
    label = "PayFiP"
    verifies_results = True
    max_amount_cents = MAX_AMOUNT_CENTS

    def __init__(self, settings: PayfipSettings) -> None:
        self.settings = settings
        self.form_origins = (url_origin(settings.payment_url),)

    def _client(self) -> Any:
        from plugins.payfip.client import PayfipClient

        return PayfipClient(self.settings.web_service_url, timeout=self.settings.timeout)

    async def start(self, request: PaymentRequest) -> PaymentRedirect:
        from plugins.payfip.client import PayfipError, PayfipUnavailable

        root = request.base_url.rstrip("/") + request.commune.url("payfip/")
        try:
            idop = await self._client().create_payment(
                numcli=request.numcli,
                refdet=request.refdet,
                amount_cents=request.amount_cents,
                mel=request.email,
                saisie=self.settings.saisie_for(request.regie_code),
                urlnotif=root + "notification",
                urlredirect=root + "retour",
                exer=request.exer,
                objet=request.objet,
            )
        except PayfipError as exc:
            key = f"payfip.fault.{exc.code}"
            message = t(key) if has(key) else t("payfip.fault.other", code=exc.code or "?")
            if exc.technical:
                message = t("payments.start.unavailable")
            raise PaymentStartFailed(message, code=exc.code) from exc
        except PayfipUnavailable as exc:
            raise PaymentStartFailed(t("payments.start.unavailable"), "unavailable") from exc
        return PaymentRedirect(
            url=f"{self.settings.payment_url}?idop={idop}",
            provider_reference=idop,
            saisie=self.settings.saisie_for(request.regie_code),
        )

    async def fetch_outcome(self, provider_reference: str) -> PaymentOutcome:
        from plugins.payfip.client import PayfipError, PayfipUnavailable

        try:
            detail = await self._client().payment_detail(provider_reference)
        except PayfipError as exc:
            # P5: not known yet; P1: unknown or purged, it will never be paid. Anything else
            # (a technical fault...) is asked again later.
            result = "expired" if exc.code == "P1" else "pending"
            return PaymentOutcome(result=result, code=exc.code or exc.kind, verified=True)
        except PayfipUnavailable:
            return PaymentOutcome(result="pending", code="unavailable", verified=True)
        result, by_direct_debit = RESULTS.get(detail.resultrans, ("unknown", False))
        return PaymentOutcome(
            result=result,
            code=detail.resultrans,
            verified=True,
            numcli=detail.numcli,
            refdet=detail.refdet,
            amount_cents=detail.amount_cents,
            saisie=detail.saisie,
            authorisation_number=detail.numauto,
            transaction_at=detail.transaction_at,
            by_direct_debit=by_direct_debit,
            raw=dict(detail.raw),
        )


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, PayfipSettings)


@hookimpl
def payment_providers(commune: CommuneContext) -> list[PayfipProvider]:
    return [PayfipProvider(commune.settings_of(PLUGIN_NAME))]


@hookimpl
def register_routes() -> list[Any]:
    from plugins.payfip.routes import PayfipController

    return [PayfipController]
