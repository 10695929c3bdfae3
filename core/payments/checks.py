"""Asking a service for an attempt's result: on demand (a notification, a return, the result
page) and in the background (the re-check of open attempts).

Nothing is settled from what a browser or a notification says: they only name an operation,
and `refresh()` (or `notified()`) asks the service itself (`fetch_outcome`); `settlement`
applies the answer. Checks of one attempt run one at a time in a process, and the service is
asked about one attempt at most once within `MIN_SECONDS_BETWEEN_CHECKS` by returns, the result
page and the re-check: inside the interval a return or the result page answers from the stored
state (and brings the re-check forward), the re-check waits for the interval's end. A
notification, the service's own word that something changed, may ask once more inside the
interval, once per interval (in a process); further ones answer from the stored state. A lost
notification changes nothing for the parent: the re-check keeps asking about open attempts for
2 days, on a backoff.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping

from core.communes.context import CommuneContext
from core.db import as_aware
from core.hookspecs import PaymentOutcome, PaymentProvider
from core.mail.mailer import Mailer
from core.payments.attempts import AttemptView, attempt_by_id, state_of, utcnow
from core.payments.providers import provider_for_regie
from core.payments.settlement import GIVE_UP_AFTER, apply_outcome
from core.payments.tables import CREATED, EXPIRED, OPEN_STATES, PENDING, PaymentAttempt

logger = logging.getLogger(__name__)

CREATED_TIMEOUT = dt.timedelta(minutes=15)  # a PayFiP idop is usable for 15 minutes
# At least this long between two questions to the service about one attempt from returns, the
# result page and the re-check (recorded in `last_checked_at`, so every process sees it):
# replayed returns or a polling page cannot make the portal hammer the service. A notification
# may ask once more within it (see `notified`).
MIN_SECONDS_BETWEEN_CHECKS = 5.0
RECHECK_INTERVAL_SECONDS = 20.0
# How long a due attempt claimed by a re-check stays its own (the check itself takes seconds).
RECHECK_LEASE = dt.timedelta(minutes=2)

_check_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
_asked_again: set[int] = set()  # attempts notified while a check of theirs was running
# (attempt id, its provider reference) -> when a notification last asked about it
_notification_questions: dict[tuple[int, str], float] = {}


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
    wait: bool = False,
) -> str:
    """Ask the service for the result of an open attempt and apply it; the new state.

    Checks of one attempt run one at a time in this process, and each re-reads the state
    first: a check waiting for another finds the attempt final and asks nothing. An attempt
    asked less than `min_interval` seconds ago is not asked again (a polling page cannot make
    the portal hammer the service): the stored state is the answer, and the attempt is due for
    the background re-check shortly; or, with `wait`, the question waits for the interval's end.
    """
    provider = _checkable(commune, attempt)
    if provider is None:
        return attempt.state
    async with _lock_of(attempt.id):
        return await _check(commune, attempt, provider, mailer, min_interval, wait=wait)


async def notified(
    commune: CommuneContext,
    attempt: AttemptView,
    mailer: Mailer,
    allowed: Callable[[], Awaitable[bool]],
) -> bool:
    """The service says something happened to an attempt: ask it now, even inside the minimum
    interval, but only once per interval (further notifications then answer from the stored
    state and bring the re-check forward). False if `allowed()` (a rate limit) refuses.

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
        interval = 0.0 if _notification_may_ask(attempt) else MIN_SECONDS_BETWEEN_CHECKS
        await _check(commune, attempt, provider, mailer, interval, wait=False)
    return True


def _notification_may_ask(attempt: AttemptView) -> bool:
    """Whether a notification may ask inside the minimum interval: once per interval (and
    note that it does). Forgets the attempts notified longer ago."""
    now = time.monotonic()
    for known, asked_at in list(_notification_questions.items()):
        if now - asked_at >= MIN_SECONDS_BETWEEN_CHECKS:
            del _notification_questions[known]
    key = (attempt.id, attempt.provider_reference or "")
    if key in _notification_questions:
        return False
    _notification_questions[key] = now
    return True


async def _check(
    commune: CommuneContext,
    attempt: AttemptView,
    provider: PaymentProvider,
    mailer: Mailer,
    min_interval: float,
    *,
    wait: bool,
) -> str:
    """One check of an open attempt (its lock held), repeated once if notified meanwhile.

    Inside the minimum interval, the stored state answers, unless `wait`: then the question
    waits (once) for the interval's end.
    """
    while True:
        current = await state_of(attempt.id, attempt.state)
        if current not in OPEN_STATES:
            return current
        if not await _claim_check(attempt.id, min_interval):
            if not wait:
                await _check_soon(attempt.id)
                return current
            wait = False
            await asyncio.sleep(await _seconds_to_wait(attempt.id, min_interval))
            continue
        _asked_again.discard(attempt.id)  # what was notified so far, this question answers
        try:
            outcome = await provider.fetch_outcome(attempt.provider_reference or "")
        except Exception:
            logger.exception("payment %s: could not read its result", attempt.refdet)
            outcome = PaymentOutcome(result="pending", code="error")
        state = await apply_outcome(commune, attempt.id, outcome, mailer)
        if state not in OPEN_STATES or attempt.id not in _asked_again:
            return state
        wait = True  # a notification came during the check: ask once more, in turn


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


async def _seconds_to_wait(attempt_id: int, min_interval: float) -> float:
    """How long until the attempt may be asked again (0 to `min_interval` seconds)."""
    row = (
        await PaymentAttempt.select(PaymentAttempt.last_checked_at)
        .where(PaymentAttempt.id == attempt_id)
        .first()
    )
    last = as_aware(row["last_checked_at"]) if row else None
    if last is None:
        return 0.0
    free_at = last + dt.timedelta(seconds=min_interval)
    return min(max((free_at - utcnow()).total_seconds(), 0.0), min_interval)


async def _check_soon(attempt_id: int) -> None:
    """Bring the attempt's next background check forward to a few seconds from now."""
    soon = utcnow() + dt.timedelta(seconds=MIN_SECONDS_BETWEEN_CHECKS)
    await PaymentAttempt.update({PaymentAttempt.next_check_at: soon}).where(
        (PaymentAttempt.id == attempt_id)
        & PaymentAttempt.state.is_in(list(OPEN_STATES))
        & (PaymentAttempt.next_check_at.is_null() | (PaymentAttempt.next_check_at > soon))
    )


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
    """Ask the services about every open attempt whose check is due; how many were asked.

    Each due attempt is claimed first, so however many re-checks run at once (in this process
    or in others sharing the database), one of them asks about it."""
    await expire_stale()
    asked = 0
    for commune_id, attempt_id in await due_for_check():
        commune = communes.get(commune_id)
        if commune is None or not await _claim_due(attempt_id):
            continue
        attempt = await attempt_by_id(attempt_id)
        if attempt is None:
            continue
        await refresh(commune, attempt, mailer, wait=True)
        asked += 1
    return asked


async def _claim_due(attempt_id: int) -> bool:
    """Take a due attempt's next check for this re-check: a conditional UPDATE that one caller
    wins (a row lock on PostgreSQL, the write lock on SQLite). The check then sets the next
    one; if this process dies first, the attempt is due again after `RECHECK_LEASE`."""
    now = utcnow()
    rows = (
        await PaymentAttempt.update({PaymentAttempt.next_check_at: now + RECHECK_LEASE})
        .where(
            (PaymentAttempt.id == attempt_id)
            & PaymentAttempt.state.is_in(list(OPEN_STATES))
            & (PaymentAttempt.next_check_at <= now)
        )
        .returning(PaymentAttempt.id)
    )
    return bool(rows)


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
