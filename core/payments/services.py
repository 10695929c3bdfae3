"""Online payment attempts: starting them, their state machine and the settlement of invoices.

The rules (payfip.md §4 and §5):

- One attempt per try, with its own `refdet` (and, for PayFiP, its own idop).
- Nothing is settled from what a browser or a notification says. Provider routes only name an
  operation; `refresh()` (or `notified()`) asks the service itself (`fetch_outcome`), and
  `apply_outcome()` compares the answer with the stored attempt (numcli, refdet, amount in
  cents, saisie) before settling. A mismatch, an unknown code, or an invoice that changed in
  the meantime sends the attempt to review: invoices are never touched on a doubt.
- Settlement happens once: the attempt leaves its open state with a conditional UPDATE in the
  same transaction as the invoices' (concurrent notifications and returns find it already
  final), the invoices are locked before they are read, final states never change, and a
  partial unique index allows one settling payment per invoice.
- An open attempt holds its invoices for 2 hours (`core.payments.holds`); the re-check keeps
  asking the service about it for 2 days, on a backoff, so a lost notification changes nothing
  for the parent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from core.communes.context import CommuneContext
from core.communes.tables import Regie
from core.db import as_aware, current_engine, transaction
from core.hookspecs import PaymentOutcome, PaymentProvider, PaymentRequest, PaymentStartFailed
from core.i18n import t
from core.invoices.modes import ONLINE
from core.invoices.tables import PAID as INVOICE_PAID
from core.invoices.tables import TO_PAY, Invoice
from core.mail.mailer import Mailer
from core.payments.basket import BasketError, PaymentPlan
from core.payments.holds import holds_for
from core.payments.providers import provider_for_regie
from core.payments.tables import (
    ABANDONED,
    CREATED,
    DECLARED,
    EXPIRED,
    FAILED,
    OPEN_STATES,
    PAID,
    PENDING,
    REFUSED,
    REVIEW,
    PaymentAttempt,
    PaymentAttemptInvoice,
)
from core.payments.text import normalize_objet
from core.web.formatting import TIMEZONE
from core.web.identity import SignedIn

logger = logging.getLogger(__name__)

REFDET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone
RECHECK_FIRST_SECONDS = 60
RECHECK_MAX_SECONDS = 3600
GIVE_UP_AFTER = dt.timedelta(days=2)  # the service purges operations overnight (P1)
CREATED_TIMEOUT = dt.timedelta(minutes=15)  # a PayFiP idop is usable for 15 minutes
MIN_SECONDS_BETWEEN_CHECKS = 3.0  # a polling page or a notification storm asks no more often

_OUTCOME_STATES = {"refused": REFUSED, "abandoned": ABANDONED, "expired": EXPIRED}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_refdet(now: dt.datetime | None = None) -> str:
    """A fresh reference: the date, then 12 random characters (20 in all, alphanumeric)."""
    day = (now or utcnow()).astimezone(TIMEZONE).strftime("%Y%m%d")
    return day + "".join(secrets.choice(REFDET_ALPHABET) for _ in range(12))


# --- Starting an attempt -------------------------------------------------------------------


async def _lock_invoices(invoice_ids: Sequence[int]) -> None:
    """Serialise attempts on the same invoices. SQLite transactions are already exclusive."""
    if isinstance(current_engine(), PostgresEngine):
        await Invoice.raw(
            "SELECT id FROM invoice WHERE id = ANY({}) ORDER BY id FOR UPDATE", list(invoice_ids)
        )


async def start_payment(
    commune: CommuneContext, account: SignedIn, plan: PaymentPlan, base_url: str
) -> tuple[str, str]:
    """Record an attempt, then ask its service where to send the parent.

    Returns (refdet, the URL of the service's page). Raises BasketError when another attempt
    took the invoices in the meantime, PaymentStartFailed when the service refused.
    """
    now = utcnow()
    refdet = new_refdet(now)
    exer = str(now.astimezone(TIMEZONE).year)
    ids = [invoice.id for invoice in plan.invoices]
    objet = normalize_objet(t("payments.objet", commune=commune.name, references=plan.references))
    async with transaction():
        await _lock_invoices(ids)
        if await holds_for(ids, now):
            raise BasketError(t("payments.basket.taken"))
        regie_id = await _regie_id(commune.id, plan.regie_code)
        attempt = (
            await PaymentAttempt.insert(
                PaymentAttempt(
                    commune=commune.id,
                    account=account.account_id,
                    regie=regie_id,
                    provider=plan.provider.name,
                    refdet=refdet,
                    numcli=plan.numcli,
                    exer=exer,
                    amount_cents=plan.amount_cents,
                    email=account.email,
                    objet=objet,
                    state=CREATED,
                    created_at=now,
                    updated_at=now,
                )
            ).returning(PaymentAttempt.id)
        )[0]["id"]
        await PaymentAttemptInvoice.insert(
            *(
                PaymentAttemptInvoice(
                    attempt=attempt, invoice=invoice.id, amount_cents=invoice.remaining_cents
                )
                for invoice in plan.invoices
            )
        )
    request = PaymentRequest(
        commune=commune,
        regie_code=plan.regie_code,
        numcli=plan.numcli,
        refdet=refdet,
        amount_cents=plan.amount_cents,
        email=account.email,
        objet=objet,
        exer=exer,
        base_url=base_url,
    )
    try:
        redirect = await plan.provider.start(request)
    except PaymentStartFailed as exc:
        await _move(attempt, FAILED, {PaymentAttempt.result_code: exc.code}, note=exc.message)
        raise
    except Exception as exc:
        logger.exception("payment %s: %s could not start it", refdet, plan.provider.name)
        await _move(attempt, FAILED, {}, note=repr(exc)[:500])
        raise PaymentStartFailed(t("payments.start.unavailable")) from exc
    later = utcnow()
    await PaymentAttempt.update(
        {
            PaymentAttempt.state: PENDING,
            PaymentAttempt.provider_reference: redirect.provider_reference,
            PaymentAttempt.saisie: redirect.saisie,
            PaymentAttempt.updated_at: later,
            PaymentAttempt.next_check_at: (
                later + dt.timedelta(seconds=RECHECK_FIRST_SECONDS)
                if plan.provider.verifies_results
                else None
            ),
        }
    ).where((PaymentAttempt.id == attempt) & (PaymentAttempt.state == CREATED))
    return refdet, redirect.url


async def _regie_id(commune_id: int, code: str) -> int:
    row = await (
        Regie.select(Regie.id).where((Regie.commune == commune_id) & (Regie.code == code)).first()
    )
    if row is None:
        raise BasketError(t("payments.basket.unavailable"))
    return int(row["id"])


async def _move(attempt_id: int, state: str, values: dict[Any, Any], *, note: str = "") -> bool:
    """Move an open attempt to `state`, with `values`; False when it was no longer open (another
    check finished it first: final states never change)."""
    rows = (
        await PaymentAttempt.update(
            {
                PaymentAttempt.updated_at: utcnow(),
                **values,
                PaymentAttempt.state: state,
                PaymentAttempt.note: note,
                PaymentAttempt.next_check_at: None,
            }
        )
        .where((PaymentAttempt.id == attempt_id) & PaymentAttempt.state.is_in(list(OPEN_STATES)))
        .returning(PaymentAttempt.id)
    )
    return bool(rows)


# --- Results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptView:
    """An attempt as its pages and the receipt show it."""

    id: int
    refdet: str
    provider: str
    provider_reference: str | None
    state: str
    result_code: str
    numcli: str
    saisie: str
    amount_cents: int
    email: str
    authorisation_number: str
    paid_at: dt.datetime | None
    created_at: dt.datetime
    regie_code: str
    regie_name: str
    account_id: int | None
    invoices: tuple[tuple[int, str, int], ...]  # (invoice id, number, amount in cents)

    @property
    def final(self) -> bool:
        return self.state not in OPEN_STATES

    @property
    def by_direct_debit(self) -> bool:
        return self.result_code in {"V", "Z"}

    @property
    def invoice_numbers(self) -> str:
        return ", ".join(number for _, number, _ in self.invoices)

    @property
    def selection_query(self) -> str:
        """The query string selecting this attempt's invoices again (to retry)."""
        return "&".join(f"facture={invoice_id}" for invoice_id, _, _ in self.invoices)


async def _attempt_views(where: Any, limit: int = 50) -> list[AttemptView]:
    rows = await (
        PaymentAttempt.select(
            *PaymentAttempt.all_columns(exclude=[PaymentAttempt.detail, PaymentAttempt.note]),
            PaymentAttempt.regie.code.as_alias("regie_code"),
            PaymentAttempt.regie.name.as_alias("regie_name"),
        )
        .where(where)
        .order_by(PaymentAttempt.created_at, ascending=False)
        .limit(limit)
    )
    if not rows:
        return []
    links = await (
        PaymentAttemptInvoice.select(
            PaymentAttemptInvoice.attempt,
            PaymentAttemptInvoice.invoice,
            PaymentAttemptInvoice.invoice.number.as_alias("number"),
            PaymentAttemptInvoice.amount_cents,
        )
        .where(PaymentAttemptInvoice.attempt.is_in([row["id"] for row in rows]))
        .order_by(PaymentAttemptInvoice.id)
    )
    by_attempt: dict[int, list[tuple[int, str, int]]] = {}
    for link in links:
        by_attempt.setdefault(link["attempt"], []).append(
            (int(link["invoice"]), link["number"], int(link["amount_cents"]))
        )
    return [
        AttemptView(
            id=int(row["id"]),
            refdet=row["refdet"],
            provider=row["provider"],
            provider_reference=row["provider_reference"],
            state=row["state"],
            result_code=row["result_code"] or "",
            numcli=row["numcli"],
            saisie=row["saisie"] or "",
            amount_cents=int(row["amount_cents"]),
            email=row["email"],
            authorisation_number=row["authorisation_number"] or "",
            paid_at=as_aware(row["paid_at"]),
            created_at=as_aware(row["created_at"]),  # type: ignore[arg-type]
            regie_code=row["regie_code"] or "",
            regie_name=row["regie_name"] or "",
            account_id=row["account"],
            invoices=tuple(by_attempt.get(row["id"], [])),
        )
        for row in rows
    ]


async def get_attempt(commune_id: int, refdet: str) -> AttemptView | None:
    views = await _attempt_views(
        (PaymentAttempt.commune == commune_id) & (PaymentAttempt.refdet == refdet), limit=1
    )
    return views[0] if views else None


async def find_by_provider_reference(
    commune_id: int, provider: str, reference: str
) -> AttemptView | None:
    """The attempt this portal created for a service's operation id (an idop), if any."""
    views = await _attempt_views(
        (PaymentAttempt.commune == commune_id)
        & (PaymentAttempt.provider == provider)
        & (PaymentAttempt.provider_reference == reference),
        limit=1,
    )
    return views[0] if views else None


async def account_attempts(commune_id: int, account_id: int, limit: int = 50) -> list[AttemptView]:
    """The account's payments, newest first, without the ones never sent to a service."""
    return await _attempt_views(
        (PaymentAttempt.commune == commune_id)
        & (PaymentAttempt.account == account_id)
        & (PaymentAttempt.state != FAILED),
        limit=limit,
    )


_check_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
_asked_again: set[int] = set()  # attempts notified while a check of theirs was running


def _lock_of(attempt_id: int) -> asyncio.Lock:
    lock = _check_locks.get(attempt_id)
    if lock is None:
        lock = _check_locks[attempt_id] = asyncio.Lock()
    return lock


def _checkable(commune: CommuneContext, attempt: AttemptView) -> PaymentProvider | None:
    """The provider to ask about an open attempt, if it can be asked at all."""
    if attempt.final or not attempt.provider_reference:
        return None
    provider = provider_for_regie(commune, attempt.regie_code)
    if provider is None or provider.name != attempt.provider or not provider.verifies_results:
        return None
    return provider


async def refresh(
    commune: CommuneContext,
    attempt: AttemptView,
    mailer: Mailer,
    *,
    min_interval: float = MIN_SECONDS_BETWEEN_CHECKS,
) -> str:
    """Ask the service for the result of an open attempt and apply it; the new state.

    Checks of one attempt run one at a time in this process, and each re-reads the state
    first: a check waiting for another finds the attempt final and asks nothing. An attempt
    asked less than `min_interval` seconds ago is not asked again (a polling page cannot make
    the portal hammer the service); it is then due for the background re-check shortly.
    """
    provider = _checkable(commune, attempt)
    if provider is None:
        return attempt.state
    async with _lock_of(attempt.id):
        return await _check(commune, attempt, provider, mailer, min_interval)


async def notified(
    commune: CommuneContext,
    attempt: AttemptView,
    mailer: Mailer,
    allowed: Callable[[], Awaitable[bool]],
) -> bool:
    """The service says something happened to an attempt: ask it now. False if `allowed()`
    (a rate limit) refuses.

    Duplicate notifications cost nothing: while a check of the attempt is running, they only
    ask for one more check once it is done (if the attempt is still open then), and return.
    """
    provider = _checkable(commune, attempt)
    if provider is None:
        return True
    lock = _lock_of(attempt.id)
    if lock.locked():
        _asked_again.add(attempt.id)
        return True
    async with lock:  # taken at once: nothing ran since the test above
        if not await allowed():
            return False
        await _check(commune, attempt, provider, mailer, min_interval=0)
    return True


async def _check(
    commune: CommuneContext,
    attempt: AttemptView,
    provider: PaymentProvider,
    mailer: Mailer,
    min_interval: float,
) -> str:
    """One check of an open attempt (its lock held), repeated once if notified meanwhile."""
    while True:
        current = await _state_of(attempt.id, attempt.state)
        if current not in OPEN_STATES:
            return current
        if not await _claim_check(attempt.id, min_interval):
            await _check_soon(attempt.id)
            return current
        _asked_again.discard(attempt.id)  # what was notified so far, this question answers
        try:
            outcome = await provider.fetch_outcome(attempt.provider_reference or "")
        except Exception:
            logger.exception("payment %s: could not read its result", attempt.refdet)
            outcome = PaymentOutcome(result="pending", code="error")
        state = await apply_outcome(commune, attempt.id, outcome, mailer)
        if state not in OPEN_STATES or attempt.id not in _asked_again:
            return state
        min_interval = 0  # a notification came during the check: ask once more


async def _claim_check(attempt_id: int, min_interval: float) -> bool:
    """Note that the attempt is being checked now, unless it was checked very recently."""
    now = utcnow()
    recent = now - dt.timedelta(seconds=min_interval)
    rows = (
        await PaymentAttempt.update({PaymentAttempt.last_checked_at: now})
        .where(
            (PaymentAttempt.id == attempt_id)
            & (
                PaymentAttempt.last_checked_at.is_null()
                | (PaymentAttempt.last_checked_at <= recent)
            )
        )
        .returning(PaymentAttempt.id)
    )
    return bool(rows)


async def _check_soon(attempt_id: int) -> None:
    """Bring the attempt's next background check forward to a few seconds from now."""
    soon = utcnow() + dt.timedelta(seconds=MIN_SECONDS_BETWEEN_CHECKS)
    await PaymentAttempt.update({PaymentAttempt.next_check_at: soon}).where(
        (PaymentAttempt.id == attempt_id)
        & PaymentAttempt.state.is_in(list(OPEN_STATES))
        & (PaymentAttempt.next_check_at.is_null() | (PaymentAttempt.next_check_at > soon))
    )


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
    record = {
        PaymentAttempt.result_code: outcome.code[:40],
        PaymentAttempt.detail: detail,
        PaymentAttempt.checks: int(row["checks"]) + 1,
        PaymentAttempt.updated_at: now,
    }
    if outcome.result == "pending":
        created = as_aware(row["created_at"]) or now
        if now - created > GIVE_UP_AFTER:
            return await _finish(attempt_id, EXPIRED, record, note="no result after 2 days")
        technical = outcome.code not in {"P5", ""}
        await PaymentAttempt.update(
            {
                **record,
                PaymentAttempt.next_check_at: _next_check(int(row["checks"]) + 1, now, technical),
            }
        ).where((PaymentAttempt.id == attempt_id) & PaymentAttempt.state.is_in(list(OPEN_STATES)))
        return str(row["state"])
    if outcome.result in _OUTCOME_STATES:
        return await _finish(attempt_id, _OUTCOME_STATES[outcome.result], record)
    if outcome.result == "unknown":
        note = f"unknown result code {outcome.code!r}: to be checked with the service"
        return await _finish(attempt_id, REVIEW, record, note=note)
    # "paid"
    problems = mismatches(row, outcome)
    if problems:
        logger.warning("payment %s: result does not match: %s", row["refdet"], problems)
        return await _finish(attempt_id, REVIEW, record, note="; ".join(problems))
    record[PaymentAttempt.authorisation_number] = outcome.authorisation_number[:64]
    record[PaymentAttempt.paid_at] = outcome.transaction_at or now
    if not outcome.verified:
        return await _finish(attempt_id, DECLARED, record, note="unsigned return: to confirm")
    return await _settle(commune, attempt_id, record, mailer)


async def _finish(attempt_id: int, state: str, record: dict[Any, Any], *, note: str = "") -> str:
    """Finish an open attempt; its state afterwards (another check's, if it finished first)."""
    if await _move(attempt_id, state, record, note=note):
        return state
    return await _state_of(attempt_id, state)


async def _state_of(attempt_id: int, default: str) -> str:
    """The attempt's state now (`default` if it has gone)."""
    row = (
        await PaymentAttempt.select(PaymentAttempt.state)
        .where(PaymentAttempt.id == attempt_id)
        .first()
    )
    return str(row["state"]) if row else default


async def _settle(
    commune: CommuneContext, attempt_id: int, record: dict[Any, Any], mailer: Mailer
) -> str:
    """Mark the attempt paid and its invoices réglées, in one transaction, exactly once."""
    paid_at: dt.datetime = record[PaymentAttempt.paid_at]
    async with transaction():
        # Two attempts may pay the same invoice (a late result after the 2-hour release): lock
        # the invoices first, so the second reads what the first wrote and goes to review.
        invoice_ids = await PaymentAttemptInvoice.select(PaymentAttemptInvoice.invoice).where(
            PaymentAttemptInvoice.attempt == attempt_id
        )
        await _lock_invoices([row["invoice"] for row in invoice_ids])
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
        if not await _move(attempt_id, state, record, note=note):  # settled by another first
            return await _state_of(attempt_id, state)
        if changed:
            logger.warning("payment %s needs review: %s", attempt_id, note)
            return state
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
        attempt = (await _attempt_views(PaymentAttempt.id == attempt_id, limit=1))[0]
        await mailer.send(
            commune,
            "payment_receipt",
            attempt.email,
            attempt=attempt,
            receipt_url=mailer.link(commune, f"paiement/{attempt.refdet}"),
        )
    logger.info("payment %s settled %d invoice(s)", attempt.refdet, len(links))
    return PAID


# --- The re-check --------------------------------------------------------------------------


async def due_for_check(now: dt.datetime | None = None, limit: int = 50) -> list[tuple[int, int]]:
    """(commune id, attempt id) of open attempts whose next check is due."""
    now = now or utcnow()
    rows = await (
        PaymentAttempt.select(PaymentAttempt.commune, PaymentAttempt.id)
        .where(
            PaymentAttempt.state.is_in(list(OPEN_STATES))
            & PaymentAttempt.next_check_at.is_not_null()
            & (PaymentAttempt.next_check_at <= now)
        )
        .order_by(PaymentAttempt.next_check_at)
        .limit(limit)
    )
    return [(int(row["commune"]), int(row["id"])) for row in rows]


async def expire_stale(now: dt.datetime | None = None) -> int:
    """Close attempts no result will ever come for: left "created" (the process died before the
    service answered), or sent to a service that cannot be asked (TIPI) and never came back."""
    now = now or utcnow()
    expired = 0
    for where, note in (
        (
            (PaymentAttempt.state == CREATED) & (PaymentAttempt.created_at < now - CREATED_TIMEOUT),
            "never sent to the service",
        ),
        (
            (PaymentAttempt.state == PENDING)
            & PaymentAttempt.next_check_at.is_null()
            & (PaymentAttempt.created_at < now - GIVE_UP_AFTER),
            "no return from the service",
        ),
    ):
        rows = (
            await PaymentAttempt.update(
                {
                    PaymentAttempt.state: EXPIRED,
                    PaymentAttempt.note: note,
                    PaymentAttempt.updated_at: now,
                }
            )
            .where(where)
            .returning(PaymentAttempt.id)
        )
        expired += len(rows)
    return expired


async def recheck_due(communes: Mapping[int, CommuneContext], mailer: Mailer) -> int:
    """Ask the services about every open attempt whose check is due; how many were asked."""
    await expire_stale()
    asked = 0
    for commune_id, attempt_id in await due_for_check():
        commune = communes.get(commune_id)
        views = await _attempt_views(PaymentAttempt.id == attempt_id, limit=1)
        if commune is None or not views:
            continue
        await refresh(commune, views[0], mailer, min_interval=0)
        asked += 1
    return asked


RECHECK_INTERVAL_SECONDS = 20.0


async def run_rechecks(
    communes: Mapping[int, CommuneContext],
    mailer: Mailer,
    interval: float = RECHECK_INTERVAL_SECONDS,
) -> None:
    """The background task: re-check due attempts forever; an error waits for the next round."""
    while True:
        await asyncio.sleep(interval)
        try:
            await recheck_due(communes, mailer)
        except Exception:
            logger.exception("payment re-check failed")
