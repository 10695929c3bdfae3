"""Applying a result to an attempt: settling its invoices, or sending it to review.

The rules (payfip.md §4 and §5):

- Only a verified result (the service's own answer, `fetch_outcome`) settles. It must match the
  stored attempt (numcli, refdet, amount in cents, saisie); a mismatch, an unknown code, or an
  invoice that changed in the meantime sends the attempt to review: invoices are never touched
  on a doubt. An unverified "paid" (TIPI's return) is recorded as declared.
- Settlement happens once: the attempt leaves its open state with a conditional UPDATE in the
  same transaction as the invoices' (concurrent notifications and returns find it already
  final), the invoices are locked before they are read, final states never change, and a
  partial unique index allows one settling payment per invoice.
- "Not known yet" keeps the attempt open and schedules its next background check, on a backoff,
  for 2 days (the service purges operations overnight).
- A verified "abandoned" is not final for `ABANDON_GRACE` after the attempt's creation or the
  service's transaction time (whichever is later): PayFiP can still complete the operation (its
  own client library keeps an `A` open for two minutes), so the attempt is `abandoning`, its
  invoices held, re-checked when the grace is over (a late payment's notification asks sooner):
  "abandoned" then closes it, "paid" settles it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from piccolo.columns import Column

from core.communes.context import CommuneContext
from core.db import as_aware, transaction
from core.hookspecs import PaymentOutcome
from core.invoices.modes import ONLINE
from core.invoices.tables import PAID as INVOICE_PAID
from core.invoices.tables import TO_PAY, Invoice
from core.mail.mailer import Mailer
from core.payments.attempts import (
    RECHECK_FIRST_SECONDS,
    attempt_views,
    lock_invoices,
    move,
    state_of,
    utcnow,
)
from core.payments.tables import (
    ABANDONED,
    ABANDONING,
    DECLARED,
    EXPIRED,
    OPEN_STATES,
    PAID,
    REFUSED,
    REVIEW,
    PaymentAttempt,
    PaymentAttemptInvoice,
)
from core.security import audit
from core.web.formatting import TIMEZONE

logger = logging.getLogger(__name__)

RECHECK_MAX_SECONDS = 3600
GIVE_UP_AFTER = dt.timedelta(days=2)  # the service purges operations overnight (P1)

_OUTCOME_STATES = {"refused": REFUSED, "abandoned": ABANDONED, "expired": EXPIRED}

# How long a cancelled PayFiP operation may still be completed; the re-check asks again then.
ABANDON_GRACE = dt.timedelta(minutes=5)


def mismatches(attempt: Mapping[str, Any], outcome: PaymentOutcome) -> list[str]:
    """What, in a result, does not match the stored attempt (payfip.md §5.2)."""
    problems = []
    if outcome.numcli != attempt["numcli"]:
        problems.append(f"numcli {outcome.numcli!r} != {attempt['numcli']!r}")
    if outcome.refdet != attempt["refdet"]:
        problems.append(f"refdet {outcome.refdet!r} != {attempt['refdet']!r}")
    if outcome.amount_cents != int(attempt["amount_cents"]):
        problems.append(f"montant {outcome.amount_cents!r} != {attempt['amount_cents']}")
    if outcome.saisie != (attempt["saisie"] or ""):
        problems.append(f"saisie {outcome.saisie!r} != {attempt['saisie']!r}")
    return problems


def _next_check(checks: int, now: dt.datetime, technical: bool) -> dt.datetime:
    delay = min(RECHECK_FIRST_SECONDS * 2**checks, RECHECK_MAX_SECONDS)
    if technical:  # the guide advises waiting before asking again after a technical error
        delay = max(delay, 300)
    return now + dt.timedelta(seconds=delay)


async def apply_outcome(
    commune: CommuneContext, attempt_id: int, outcome: PaymentOutcome, mailer: Mailer
) -> str:
    """Apply what is known of an attempt's result; returns its state afterwards.

    Open attempts only: a final state never changes. "paid" settles the invoices when the
    outcome is verified and matches, and goes to review otherwise (or to "declared" when
    unverified and matching).
    """
    now = utcnow()
    row = await PaymentAttempt.select().where(PaymentAttempt.id == attempt_id).first()
    if row is None:
        raise LookupError(f"payment attempt {attempt_id} does not exist")
    if row["state"] not in OPEN_STATES:
        return str(row["state"])
    detail = json.dumps(dict(outcome.raw), ensure_ascii=False, sort_keys=True)
    record: dict[Column | str, Any] = {
        PaymentAttempt.result_code: outcome.code[:40],
        PaymentAttempt.detail: detail,
        PaymentAttempt.checks: int(row["checks"]) + 1,
        PaymentAttempt.updated_at: now,
    }
    if outcome.result == "pending":
        created = as_aware(row["created_at"]) or now
        if now - created > GIVE_UP_AFTER:
            return await _finish(commune, row, EXPIRED, record, note="no result after 2 days")
        technical = outcome.code not in {"P5", ""}
        await PaymentAttempt.update(
            {
                **record,
                PaymentAttempt.next_check_at: _next_check(int(row["checks"]) + 1, now, technical),
            }
        ).where((PaymentAttempt.id == attempt_id) & PaymentAttempt.state.is_in(list(OPEN_STATES)))
        return str(row["state"])
    if outcome.result == "abandoned" and outcome.verified:
        grace_until = _abandon_grace_end(row, outcome, now)
        if now < grace_until:
            return await _keep_open(attempt_id, record, grace_until)
    if outcome.result in _OUTCOME_STATES:
        return await _finish(commune, row, _OUTCOME_STATES[outcome.result], record)
    if outcome.result == "unknown":
        note = f"unknown result code {outcome.code!r}: to be checked with the service"
        return await _finish(commune, row, REVIEW, record, note=note)
    # "paid"
    problems = mismatches(row, outcome)
    if problems:
        logger.warning("payment %s: result does not match: %s", row["refdet"], problems)
        return await _finish(commune, row, REVIEW, record, note="; ".join(problems))
    record[PaymentAttempt.authorisation_number] = outcome.authorisation_number[:64]
    record[PaymentAttempt.paid_at] = outcome.transaction_at or now
    if not outcome.verified:
        return await _finish(commune, row, DECLARED, record, note="unsigned return: to confirm")
    return await _settle(commune, row, record, mailer)


def _abandon_grace_end(
    row: Mapping[str, Any], outcome: PaymentOutcome, now: dt.datetime
) -> dt.datetime:
    """Until when an "abandoned" answer may still turn into a payment."""
    started = max(as_aware(row["created_at"]) or now, outcome.transaction_at or now - GIVE_UP_AFTER)
    return started + ABANDON_GRACE


async def _keep_open(attempt_id: int, record: dict[Any, Any], next_check: dt.datetime) -> str:
    """An abandon still in its grace period: `abandoning`, asked again at `next_check`."""
    rows = (
        await PaymentAttempt.update(
            {**record, PaymentAttempt.state: ABANDONING, PaymentAttempt.next_check_at: next_check}
        )
        .where((PaymentAttempt.id == attempt_id) & PaymentAttempt.state.is_in(list(OPEN_STATES)))
        .returning(PaymentAttempt.id)
    )
    return ABANDONING if rows else await state_of(attempt_id, ABANDONING)


async def _finish(
    commune: CommuneContext,
    row: Mapping[str, Any],
    state: str,
    record: dict[Any, Any],
    *,
    note: str = "",
) -> str:
    """Finish an open attempt; its state afterwards (another check's, if it finished first)."""
    if await move(int(row["id"]), state, record, note=note):
        _record(commune, row, state)
        return state
    return await state_of(int(row["id"]), state)


# The security log's word for each final state (`core.security.audit`).
_LOGGED_OUTCOMES = {
    PAID: "settled",
    REFUSED: "refused",
    ABANDONED: "abandoned",
    EXPIRED: "expired",
    REVIEW: "review",
    DECLARED: "declared",
}


def _record(commune: CommuneContext, row: Mapping[str, Any], state: str) -> None:
    """The attempt's final state in the security log: its id, amount and service, no card data
    (the portal never sees any)."""
    audit.record(
        "payment",
        _LOGGED_OUTCOMES[state],
        commune=commune.slug,
        account=row["account"],
        attempt=int(row["id"]),
        amount_cents=int(row["amount_cents"]),
        provider=str(row["provider"]),
    )


async def _settle(
    commune: CommuneContext, row: Mapping[str, Any], record: dict[Any, Any], mailer: Mailer
) -> str:
    """Mark the attempt paid and its invoices réglées, in one transaction, exactly once."""
    attempt_id = int(row["id"])
    async with transaction():
        # Two attempts may pay the same invoice (a late result after the 2-hour release): lock
        # the invoices first, so the second reads what the first wrote and goes to review.
        invoice_ids = await PaymentAttemptInvoice.select(PaymentAttemptInvoice.invoice).where(
            PaymentAttemptInvoice.attempt == attempt_id
        )
        await lock_invoices([row["invoice"] for row in invoice_ids])
        links = await PaymentAttemptInvoice.select(
            PaymentAttemptInvoice.id,
            PaymentAttemptInvoice.invoice,
            PaymentAttemptInvoice.amount_cents,
            PaymentAttemptInvoice.invoice.number.as_alias("number"),
            PaymentAttemptInvoice.invoice.status.as_alias("status"),
            PaymentAttemptInvoice.invoice.amount_cents.as_alias("invoice_amount"),
            PaymentAttemptInvoice.invoice.paid_cents.as_alias("invoice_paid"),
        ).where(PaymentAttemptInvoice.attempt == attempt_id)
        changed = [
            link["number"]
            for link in links
            if link["status"] != TO_PAY
            or int(link["invoice_amount"]) - int(link["invoice_paid"]) != int(link["amount_cents"])
        ]
        state = REVIEW if changed else PAID
        note = f"paid, but invoices changed meanwhile: {', '.join(changed)}" if changed else ""
        if not await move(attempt_id, state, record, note=note):  # settled by another first
            return await state_of(attempt_id, state)
        if changed:
            logger.warning("payment %s needs review: %s", attempt_id, note)
            _record(commune, row, state)
            return state
        await _mark_paid(attempt_id, links, record)
        attempt = (await attempt_views(PaymentAttempt.id == attempt_id, limit=1))[0]
        await mailer.send(
            commune,
            "payment_receipt",
            attempt.email,
            attempt=attempt,
            receipt_url=mailer.link(commune, f"paiement/{attempt.refdet}"),
        )
    logger.info("payment %s settled %d invoice(s)", attempt.refdet, len(links))
    _record(commune, row, PAID)  # once committed
    return PAID


async def _mark_paid(attempt_id: int, links: list[dict[str, Any]], record: dict[Any, Any]) -> None:
    """The invoices of a paid attempt become réglées, paid online (within `_settle`'s
    transaction)."""
    paid_at: dt.datetime = record[PaymentAttempt.paid_at]
    paid_on = paid_at.astimezone(TIMEZONE).date()
    now = utcnow()
    for link in links:
        await Invoice.update(
            {
                Invoice.paid_cents: Invoice.paid_cents + int(link["amount_cents"]),
                Invoice.status: INVOICE_PAID,
                Invoice.paid_on: paid_on,
                Invoice.payment_mode: ONLINE,
                Invoice.authorisation_number: record[PaymentAttempt.authorisation_number],
                Invoice.updated_at: now,
            }
        ).where((Invoice.id == link["invoice"]) & (Invoice.status == TO_PAY))
    await PaymentAttemptInvoice.update({PaymentAttemptInvoice.settled: True}).where(
        PaymentAttemptInvoice.attempt == attempt_id
    )
