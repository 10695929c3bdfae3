"""The figures of a commune's dashboard: a handful of aggregate queries, each on indexed
columns of one commune, so the page costs the same whatever the size of the database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from piccolo.query.functions.aggregate import Count, Sum

from core.accounts.tables import Account, AccountPayer, Payer
from core.backoffice.contact import count_not_handled
from core.backoffice.imports import ImportJobInfo, list_import_jobs
from core.clock import now
from core.communes.tables import Regie
from core.invoices.modes import ONLINE
from core.invoices.tables import PAID, TO_PAY, Invoice
from core.mail.health import outbox_health
from core.payments.tables import OPEN_STATES, REVIEW, PaymentAttempt
from core.payments.tables import PAID as PAYMENT_PAID

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class RegieDue:
    code: str
    name: str
    invoices: int
    due_cents: int


@dataclass(frozen=True)
class Share:
    """`part` out of `whole`, shown as a percentage (None when there is nothing to divide)."""

    part: int
    whole: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.part / self.whole) if self.whole else None


@dataclass(frozen=True)
class Dashboard:
    due_by_regie: list[RegieDue]
    paid_today: tuple[int, int]  # (payments, cents)
    paid_this_month: tuple[int, int]
    attempts_in_progress: int
    attempts_in_review: int
    accounts_pending: int
    last_import: ImportJobInfo | None
    families_with_account: Share
    paid_online_month: Share
    paid_online_year: Share
    emails_failed: int = 0  # the commune's e-mails the SMTP server never accepted
    contact_not_handled: int = 0

    @property
    def due_total_cents(self) -> int:
        return sum(regie.due_cents for regie in self.due_by_regie)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=PARIS)


async def dashboard(commune_id: int, today: dt.date | None = None) -> Dashboard:
    """Every figure of the dashboard of `commune_id` (days are Paris days)."""
    today = today or now().astimezone(PARIS).date()
    month_start = today.replace(day=1)
    year_start = today.replace(month=1, day=1)
    jobs = await list_import_jobs(commune_id, limit=1)
    return Dashboard(
        due_by_regie=await _due_by_regie(commune_id),
        paid_today=await _payments_since(commune_id, _day_start(today)),
        paid_this_month=await _payments_since(commune_id, _day_start(month_start)),
        attempts_in_progress=await _attempts(
            commune_id, PaymentAttempt.state.is_in(list(OPEN_STATES))
        ),
        attempts_in_review=await _attempts(commune_id, PaymentAttempt.state == REVIEW),
        accounts_pending=await Account.count().where(
            (Account.commune == commune_id) & (Account.state == "pending")
        ),
        last_import=jobs[0] if jobs else None,
        families_with_account=await _families_with_account(commune_id),
        paid_online_month=await _paid_online_since(commune_id, month_start),
        paid_online_year=await _paid_online_since(commune_id, year_start),
        emails_failed=(await outbox_health(commune_id)).failed,
        contact_not_handled=await count_not_handled(commune_id),
    )


async def _due_by_regie(commune_id: int) -> list[RegieDue]:
    rows = (
        await Invoice.select(
            Invoice.regie,
            Count(alias="invoices"),
            Sum(Invoice.amount_cents, alias="amount"),
            Sum(Invoice.paid_cents, alias="paid"),
        )
        .where(
            (Invoice.commune == commune_id)
            & (Invoice.status == TO_PAY)
            & (Invoice.amount_cents > Invoice.paid_cents)
        )
        .group_by(Invoice.regie)
    )
    names = {
        row["id"]: row
        for row in await Regie.select(Regie.id, Regie.code, Regie.name).where(
            Regie.commune == commune_id
        )
    }
    found = [
        RegieDue(
            code=names[row["regie"]]["code"],
            name=names[row["regie"]]["name"],
            invoices=int(row["invoices"]),
            due_cents=int(row["amount"] or 0) - int(row["paid"] or 0),
        )
        for row in rows
    ]
    return sorted(found, key=lambda regie: regie.code)


async def _payments_since(commune_id: int, since: dt.datetime) -> tuple[int, int]:
    row = (
        await PaymentAttempt.select(
            Count(alias="payments"), Sum(PaymentAttempt.amount_cents, alias="cents")
        )
        .where(
            (PaymentAttempt.commune == commune_id)
            & (PaymentAttempt.state == PAYMENT_PAID)
            & (PaymentAttempt.paid_at >= since)
        )
        .first()
    )
    return (int(row["payments"] or 0), int(row["cents"] or 0)) if row else (0, 0)


async def _attempts(commune_id: int, condition: Any) -> int:
    return int(
        await PaymentAttempt.count().where((PaymentAttempt.commune == commune_id) & condition)
    )


async def _families_with_account(commune_id: int) -> Share:
    payers = await Payer.count().where(Payer.commune == commune_id)
    # COUNT(DISTINCT) in the database: a commune's payers are never loaded.
    rows = await AccountPayer.raw(
        "SELECT COUNT(DISTINCT account_payer.payer) AS families FROM account_payer"
        " JOIN account ON account.id = account_payer.account"
        " WHERE account.commune = {} AND account.state = 'active'",
        commune_id,
    )
    return Share(part=int(rows[0]["families"]), whole=int(payers))


async def _paid_online_since(commune_id: int, since: dt.date) -> Share:
    paid = (Invoice.commune == commune_id) & (Invoice.status == PAID) & (Invoice.paid_on >= since)
    whole = await Invoice.count().where(paid)
    online = await Invoice.count().where(paid & (Invoice.payment_mode == ONLINE))
    return Share(part=int(online), whole=int(whole))
