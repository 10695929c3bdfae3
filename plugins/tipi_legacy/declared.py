"""The back office's "Paiements TIPI déclarés": TIPI payments whose unsigned "paid" return was
recorded (state `declared`) and that no import has confirmed yet, a page at a time, with what
the parent's browser brought back (TIPI's return, `PaymentAttempt.detail`).

Every query is scoped by the commune and by this plugin's attempts.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from core.payments.tables import DECLARED, PaymentAttempt, PaymentAttemptInvoice
from plugins.tipi_legacy.provider import PLUGIN_NAME

PER_PAGE = 50


@dataclass(frozen=True)
class DeclaredPayment:
    id: int
    refdet: str
    created_at: dt.datetime
    paid_at: dt.datetime | None
    amount_cents: int
    email: str
    authorisation_number: str
    result_code: str
    returned: list[tuple[str, str]]  # the return's fields, as TIPI sent them
    invoices: list[dict[str, Any]] = field(default_factory=list)  # number, payer, amount_cents

    @property
    def payers(self) -> list[str]:
        return sorted({invoice["payer"] for invoice in self.invoices})


@dataclass(frozen=True)
class DeclaredPage:
    rows: list[DeclaredPayment]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def _declared(commune_id: int) -> Any:
    """The one scope of every query here."""
    return (
        (PaymentAttempt.commune == commune_id)
        & (PaymentAttempt.provider == PLUGIN_NAME)
        & (PaymentAttempt.state == DECLARED)
    )


async def declared_page(commune_id: int, page: int) -> DeclaredPage:
    """One page of the commune's declared TIPI payments, newest first."""
    total = await PaymentAttempt.count().where(_declared(commune_id))
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    page = min(max(page, 1), pages)
    rows = (
        await PaymentAttempt.select(
            PaymentAttempt.id,
            PaymentAttempt.refdet,
            PaymentAttempt.created_at,
            PaymentAttempt.paid_at,
            PaymentAttempt.amount_cents,
            PaymentAttempt.email,
            PaymentAttempt.authorisation_number,
            PaymentAttempt.result_code,
            PaymentAttempt.detail,
        )
        .where(_declared(commune_id))
        .order_by(PaymentAttempt.created_at, ascending=False)
        .order_by(PaymentAttempt.id, ascending=False)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    invoices = await _invoices_of(commune_id, [row["id"] for row in rows])
    return DeclaredPage(
        rows=[
            DeclaredPayment(
                id=row["id"],
                refdet=row["refdet"],
                created_at=row["created_at"],
                paid_at=row["paid_at"],
                amount_cents=int(row["amount_cents"]),
                email=row["email"],
                authorisation_number=row["authorisation_number"],
                result_code=row["result_code"],
                returned=returned_fields(row["detail"]),
                invoices=invoices.get(row["id"], []),
            )
            for row in rows
        ],
        total=total,
        page=page,
    )


async def _invoices_of(commune_id: int, attempt_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    if not attempt_ids:
        return {}
    links = (
        await PaymentAttemptInvoice.select(
            PaymentAttemptInvoice.attempt,
            PaymentAttemptInvoice.amount_cents,
            PaymentAttemptInvoice.invoice.number.as_alias("number"),
            PaymentAttemptInvoice.invoice._.payer._.name.as_alias("payer"),
            PaymentAttemptInvoice.invoice._.payer._.external_ref.as_alias("payer_ref"),
        )
        .where(
            PaymentAttemptInvoice.attempt.is_in(attempt_ids)
            & (PaymentAttemptInvoice.invoice.commune == commune_id)
        )
        .order_by(PaymentAttemptInvoice.id)
    )
    found: dict[int, list[dict[str, Any]]] = {}
    for link in links:
        found.setdefault(link["attempt"], []).append(link)
    return found


def returned_fields(detail: str) -> list[tuple[str, str]]:
    """The return's fields (a JSON object), sorted by name; nothing if it is not one."""
    try:
        data = json.loads(detail) if detail else {}
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    return sorted((str(key), str(value)) for key, value in data.items())
