"""A fake payment provider, as a third-party plugin would bring one: "Paiement au guichet".

A plain plugin (settings and `payment_providers`, no route of its own): the core starts its
attempts, receives its notifications and returns on its own routes
(`/<commune>/paiement/counter/…`), and settles what its `fetch_outcome` confirms.

- Its "service" confirms every operation it started as paid (`fetch_outcome`).
- Its notification is a form field `ref` (its own reference); its return names the reference
  in the query string (`?ref=…`) or, with `refdet` and `resultat=P`, claims a payment itself
  (which the core must never settle, whatever `verified` says).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from core.hookspecs import (
    PaymentNotice,
    PaymentOutcome,
    PaymentRedirect,
    PaymentRequest,
    ServiceCall,
    hookimpl,
)

PLUGIN_NAME = "counter"


class CounterSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


def _field(pairs: Sequence[tuple[str, str]], name: str) -> str:
    return next((value for key, value in pairs if key == name), "")


class CounterProvider:
    """A further payment service: the core does the rest."""

    name = PLUGIN_NAME
    label = "Paiement au guichet"
    verifies_results = True
    max_amount_cents = 100_000
    direct_debit = False
    form_origins = ()

    def __init__(self) -> None:
        self.started: dict[str, PaymentRequest] = {}

    async def start(self, request: PaymentRequest) -> PaymentRedirect:
        reference = f"G{request.refdet}"
        self.started[reference] = request
        return PaymentRedirect(
            url=request.commune.url(f"guichet/{reference}"), provider_reference=reference
        )

    async def fetch_outcome(self, provider_reference: str) -> PaymentOutcome:
        request = self.started[provider_reference]
        return PaymentOutcome(
            result="paid",
            code="OK",
            verified=True,
            numcli=request.numcli,
            refdet=request.refdet,
            amount_cents=request.amount_cents,
            authorisation_number="GUICHET-1",
        )

    def read_notification(self, call: ServiceCall) -> PaymentNotice | None:
        reference = _field(call.form, "ref")
        return PaymentNotice(provider_reference=reference) if reference else None

    def read_return(self, call: ServiceCall) -> PaymentNotice | None:
        refdet = _field(call.query, "refdet")
        if refdet and _field(call.query, "resultat") == "P":
            request = next(r for r in self.started.values() if r.refdet == refdet)
            claimed = PaymentOutcome(  # a browser claiming a verified payment: not believed
                result="paid",
                code="P",
                verified=True,
                numcli=request.numcli,
                refdet=refdet,
                amount_cents=request.amount_cents,
            )
            return PaymentNotice(refdet=refdet, outcome=claimed)
        reference = _field(call.query, "ref")
        return PaymentNotice(provider_reference=reference) if reference else None


class CounterPlugin:
    """Registered with `create_app(..., extra_plugins=[("counter", CounterPlugin())])`."""

    def __init__(self) -> None:
        self.provider = CounterProvider()

    @hookimpl
    def register_plugin_settings(self, register: Any) -> None:
        register(PLUGIN_NAME, CounterSettings)

    @hookimpl
    def payment_providers(self) -> list[CounterProvider]:
        return [self.provider]
