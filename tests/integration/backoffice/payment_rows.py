"""Payment attempts written straight into the database, as the payment code leaves them, for the
back office's lists and exports (the simulator is used where the service must answer)."""

from __future__ import annotations

import datetime as dt

from core.communes.tables import Commune, Regie
from core.db import transaction
from core.invoices.tables import PAID as INVOICE_PAID
from core.invoices.tables import Invoice
from core.payments.tables import PAID, PaymentAttempt, PaymentAttemptInvoice

_refdets = iter(range(1, 10_000_000))


async def ids_of(slug: str, regie: str) -> tuple[int, int]:
    commune = await Commune.select(Commune.id).where(Commune.slug == slug).first()
    assert commune is not None
    row = await (
        Regie.select(Regie.id)
        .where((Regie.commune == commune["id"]) & (Regie.code == regie))
        .first()
    )
    assert row is not None
    return int(commune["id"]), int(row["id"])


async def add_regie(slug: str, code: str, name: str = "Périscolaire") -> None:
    """A régie row the TOML does not list (for a commune the test config gives none)."""
    commune = await Commune.select(Commune.id).where(Commune.slug == slug).first()
    assert commune is not None
    await Regie.insert(Regie(commune=commune["id"], code=code, name=name, client_number="005500"))


async def add_attempt(
    slug: str,
    invoice_ids: list[int],
    *,
    regie: str = "CANT",
    state: str = PAID,
    amount: int = 24311,
    created_at: dt.datetime | None = None,
    provider: str = "payfip",
    email: str = "claire@example.org",
    authorisation: str = "",
    result_code: str = "",
    settle: bool | None = None,
) -> int:
    """An attempt of `invoice_ids` (each asked `amount` / count); a paid one settles them."""
    commune_id, regie_id = await ids_of(slug, regie)
    at = created_at or dt.datetime.now(dt.UTC)
    number = next(_refdets)
    settle = state == PAID if settle is None else settle
    async with transaction():
        attempt = (
            await PaymentAttempt.insert(
                PaymentAttempt(
                    commune=commune_id,
                    regie=regie_id,
                    provider=provider,
                    refdet=f"20260101TEST{number:08d}",
                    provider_reference=f"idop-{number}",
                    numcli="004200",
                    exer="2026",
                    amount_cents=amount,
                    email=email,
                    state=state,
                    result_code=result_code,
                    authorisation_number=authorisation,
                    paid_at=at if state == PAID else None,
                    created_at=at,
                    updated_at=at,
                )
            ).returning(PaymentAttempt.id)
        )[0]["id"]
        share = amount // max(1, len(invoice_ids))
        for invoice_id in invoice_ids:
            await PaymentAttemptInvoice.insert(
                PaymentAttemptInvoice(
                    attempt=attempt, invoice=invoice_id, amount_cents=share, settled=settle
                )
            )
    return int(attempt)


async def add_settled_invoices(
    slug: str, payer_id: int, count: int, *, paid_at: dt.datetime, amount: int = 1250
) -> None:
    """`count` invoices, each settled by its own paid attempt, in bulk inserts of 500 rows
    (PostgreSQL takes at most 32,767 parameters a query)."""
    for first in range(0, count, 500):
        await _settled_chunk(slug, payer_id, range(first, min(count, first + 500)), paid_at, amount)


async def _settled_chunk(
    slug: str, payer_id: int, numbers: range, paid_at: dt.datetime, amount: int
) -> None:
    commune_id, regie_id = await ids_of(slug, "CANT")
    async with transaction():
        invoices = await Invoice.insert(
            *(
                Invoice(
                    commune=commune_id,
                    regie=regie_id,
                    payer=payer_id,
                    number=f"BULK-{i:06d}",
                    object="Cantine",
                    issued_on=dt.date(2026, 1, 10),
                    due_on=dt.date(2026, 2, 10),
                    amount_cents=amount,
                    paid_cents=amount,
                    status=INVOICE_PAID,
                    published_at=paid_at,
                    updated_at=paid_at,
                )
                for i in numbers
            )
        ).returning(Invoice.id)
        attempts = await PaymentAttempt.insert(
            *(
                PaymentAttempt(
                    commune=commune_id,
                    regie=regie_id,
                    provider="payfip",
                    refdet=f"BULK{i:016d}",
                    provider_reference=f"bulk-{i}",
                    numcli="004200",
                    exer="2026",
                    amount_cents=amount,
                    email="claire@example.org",
                    state=PAID,
                    authorisation_number=f"A{i}",
                    paid_at=paid_at,
                    created_at=paid_at,
                    updated_at=paid_at,
                )
                for i in numbers
            )
        ).returning(PaymentAttempt.id)
        await PaymentAttemptInvoice.insert(
            *(
                PaymentAttemptInvoice(
                    attempt=a["id"], invoice=i["id"], amount_cents=amount, settled=True
                )
                for a, i in zip(attempts, invoices, strict=True)
            )
        )
