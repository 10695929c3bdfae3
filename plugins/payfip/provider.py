"""PayFiP as a payment provider (`core.hookspecs.PaymentProvider`).

It creates the operation (`creerPaiementSecurise`), sends the parent to `paiementws.web?idop=…`,
and reads results with `recupererDetailPaiementSecurise`, the only source it trusts. Its
notification and the browser's return only name an idop (read case-insensitively, payfip.md
§5); the core's routes then ask the service about it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import msgspec

from core.hookspecs import (
    PaymentNotice,
    PaymentOutcome,
    PaymentRedirect,
    PaymentRequest,
    PaymentResult,
    PaymentStartFailed,
    ServiceCall,
)
from core.i18n import has, t
from core.payments.providers import url_origin

PLUGIN_NAME = "payfip"
MAX_AMOUNT_CENTS = 9_999_999
MAX_IDOP_LENGTH = 64

# resultrans -> (result, by direct debit); any other code goes to review (payfip.md §3).
RESULTS: dict[str, tuple[Any, bool]] = {
    "P": ("paid", False),
    "V": ("paid", True),
    "R": ("refused", False),
    "Z": ("refused", True),
    "A": ("abandoned", False),
}


class PayfipSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    web_service_url: str = "https://www.payfip.gouv.fr/tpa/services/securite"
    payment_url: str = "https://www.payfip.gouv.fr/tpa/paiementws.web"
    saisie: Literal["T", "X", "W"] = "W"  # T test, X activation, W production (payfip.md §2)
    # Régie code -> its own saisie, for a régie going live before (or after) the others.
    saisie_by_regie: dict[str, Literal["T", "X", "W"]] = msgspec.field(default_factory=dict)
    timeout: float = 15.0  # seconds, for each call to the web service

    def saisie_for(self, regie_code: str) -> str:
        return self.saisie_by_regie.get(regie_code, self.saisie)


def idop_from(pairs: Iterable[tuple[str, Any]]) -> str:
    """The `idop` parameter, read case-insensitively (`idop`, `idOp`, `IDOP`...)."""
    for key, value in pairs:
        if key.lower() == "idop" and isinstance(value, str):
            value = value.strip()
            return value if 0 < len(value) <= MAX_IDOP_LENGTH else ""
    return ""


class PayfipProvider:
    name = PLUGIN_NAME
    label = "PayFiP"
    verifies_results = True
    max_amount_cents = MAX_AMOUNT_CENTS
    direct_debit = True

    def __init__(self, settings: PayfipSettings) -> None:
        self.settings = settings
        self.form_origins = (url_origin(settings.payment_url),)

    # The client is imported where it is used: it brings httpx (about 0.1 s to import), which
    # `portail check-config`, `migrate` and the plugin manager alone do not need.

    def _client(self) -> Any:
        from plugins.payfip.client import PayfipClient  # httpx: see above

        return PayfipClient(self.settings.web_service_url, timeout=self.settings.timeout)

    async def start(self, request: PaymentRequest) -> PaymentRedirect:
        from plugins.payfip.client import PayfipError, PayfipUnavailable  # httpx: see above

        try:
            idop = await self._client().create_payment(
                numcli=request.numcli,
                refdet=request.refdet,
                amount_cents=request.amount_cents,
                mel=request.email,
                saisie=self.settings.saisie_for(request.regie_code),
                urlnotif=request.notification_url,
                urlredirect=request.return_url,
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
        from plugins.payfip.client import PayfipError, PayfipUnavailable  # httpx: see above

        try:
            detail = await self._client().payment_detail(provider_reference)
        except PayfipError as exc:
            # P5: not known yet; P1: unknown or purged, it will never be paid. Anything else
            # (a technical fault...) is asked again later.
            result: PaymentResult = "expired" if exc.code == "P1" else "pending"
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

    def read_notification(self, call: ServiceCall) -> PaymentNotice | None:
        """The idop, from the query string or else the form (any other field is ignored)."""
        idop = idop_from(call.query) or idop_from(call.form)
        return PaymentNotice(provider_reference=idop) if idop else None

    def read_return(self, call: ServiceCall) -> PaymentNotice | None:
        return self.read_notification(call)  # the browser brings the idop the same way
