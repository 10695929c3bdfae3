"""TIPI as a payment provider (`core.hookspecs.PaymentProvider`).

It sends the parent to `paiement.web` with the debt in the query string (numcli, exer, refdet,
objet, montant, mel, urlcl, saisie). The service cannot be asked for a result, and its return
(`urlcl`, GET or POST, with the fields of payfip.md §1) is not signed: `read_return` hands the
core the attempt's refdet and the result as the browser brought it. The core checks refdet,
amount, numcli and saisie against the stored attempt and records a "paid" as declared, to be
confirmed by the next import; a mismatch goes to review; nothing is settled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlencode

import msgspec

from core.hookspecs import (
    PaymentNotice,
    PaymentOutcome,
    PaymentRedirect,
    PaymentRequest,
    ServiceCall,
)
from core.payments.providers import url_origin
from core.web.formatting import TIMEZONE

PLUGIN_NAME = "tipi_legacy"
MAX_AMOUNT_CENTS = 999_999  # 9 999,99 €, as eopayment's TIPI backend allows
MAX_FIELD_LENGTH = 200
RESULTS = {"P": "paid", "V": "paid", "R": "refused", "Z": "refused", "A": "abandoned"}
FIELDS = (
    "numcli", "exer", "refdet", "objet", "montant", "mel", "saisie",
    "resultrans", "numauto", "dattrans", "heurtrans",
)  # fmt: skip


class TipiSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    payment_url: str = "https://www.payfip.gouv.fr/tpa/paiement.web"
    saisie: Literal["T", "X", "A", "M"] = "A"  # T test, X activation, A production (payfip.md §1)


def outcome_from(fields: Mapping[str, str]) -> PaymentOutcome:
    """What the browser brought back, unverified."""
    code = fields.get("resultrans", "")
    amount = fields.get("montant", "")
    return PaymentOutcome(
        result=RESULTS.get(code, "unknown"),  # type: ignore[arg-type]  # a Literal
        code=code,
        verified=False,
        numcli=fields.get("numcli", ""),
        refdet=fields.get("refdet", ""),
        amount_cents=int(amount) if amount.isdigit() and len(amount) < 12 else None,
        saisie=fields.get("saisie", ""),
        authorisation_number=fields.get("numauto", ""),
        transaction_at=transaction_time(fields.get("dattrans", ""), fields.get("heurtrans", "")),
        by_direct_debit=code in {"V", "Z"},
        raw=dict(fields),
    )


def transaction_time(dattrans: str, heurtrans: str) -> dt.datetime | None:
    """DDMMYYYY and HHMM, Paris time; None when absent or malformed."""
    try:
        moment = dt.datetime.strptime(dattrans + heurtrans.rjust(4, "0"), "%d%m%Y%H%M")
    except ValueError:
        return None
    return moment.replace(tzinfo=TIMEZONE)


def return_fields(call: ServiceCall) -> dict[str, str]:
    """The fields of payfip.md §1, from the query string and the form (the form wins)."""
    pairs = dict(call.query)
    pairs.update(call.form)
    return {key: pairs.get(key, "")[:MAX_FIELD_LENGTH].strip() for key in FIELDS}


class TipiProvider:
    name = PLUGIN_NAME
    label = "TIPI"
    verifies_results = False
    max_amount_cents = MAX_AMOUNT_CENTS
    direct_debit = False

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
            "urlcl": request.return_url,
            "saisie": self.settings.saisie,
        }
        return PaymentRedirect(
            url=f"{self.settings.payment_url}?{urlencode(query)}", saisie=self.settings.saisie
        )

    async def fetch_outcome(self, provider_reference: str) -> PaymentOutcome:
        return PaymentOutcome(result="pending")  # TIPI cannot be asked

    def read_notification(self, call: ServiceCall) -> PaymentNotice | None:
        return None  # TIPI sends no notification

    def read_return(self, call: ServiceCall) -> PaymentNotice | None:
        fields = return_fields(call)
        refdet = fields["refdet"][:30]
        return PaymentNotice(refdet=refdet, outcome=outcome_from(fields)) if refdet else None
