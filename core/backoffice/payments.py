"""The back office's view of online payments: the filtered list, one attempt in detail, asking
the service again, and the agent's decision on an attempt in review.

Every query is scoped by the commune's id: an attempt of another commune does not exist here.
Nothing here settles an invoice by itself: a confirmed review goes through
`core.payments.settlement.apply_outcome` with the service's own verified answer, like a check.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core.backoffice import journal
from core.backoffice.identity import AgentInfo, NotAllowed
from core.backoffice.roles import can
from core.backoffice.tables import REVIEW_CLOSED, REVIEW_CONFIRMED, PaymentReview
from core.clock import now
from core.communes.context import CommuneContext
from core.db import as_aware, transaction
from core.hookspecs import PaymentOutcome
from core.i18n import t
from core.mail.mailer import Mailer
from core.payments import checks
from core.payments.attempts import attempt_by_id
from core.payments.providers import provider_for_regie
from core.payments.settlement import apply_outcome, mismatches
from core.payments.tables import (
    EXPIRED,
    OPEN_STATES,
    PAID,
    PENDING,
    REVIEW,
    STATES,
    PaymentAttempt,
    PaymentAttemptInvoice,
)
from core.web.formatting import TIMEZONE
from core.web.forms import Problems

PER_PAGE = 50
MAX_EUROS_CENTS = 10**11  # far above any invoice: beyond, the figure is a typing error
COMMENT_MAX_LENGTH = 2000
_AMOUNT = re.compile(r"^(\d{1,9})(?:[.,](\d{1,2}))?$")


# --- Filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFilters:
    """The list's criteria; each one given must hold. Days are Paris days, both ends included."""

    from_day: dt.date | None = None
    to_day: dt.date | None = None
    regie: str = ""
    state: str = ""
    provider: str = ""
    min_cents: int | None = None
    max_cents: int | None = None


def parse_day(raw: str) -> dt.date | None:
    """`AAAA-MM-JJ` (a date field) or `JJ/MM/AAAA` (typed by hand); raises ValueError."""
    raw = raw.strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(raw, pattern).date()
        except ValueError:
            continue
    raise ValueError(raw)


def parse_euros(raw: str) -> int:
    """Euros as typed ("12,50", "12.5", "1 234") -> cents; raises ValueError."""
    text = raw.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "").rstrip("€")
    match = _AMOUNT.match(text)
    if not match:
        raise ValueError(raw)
    cents = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if cents > MAX_EUROS_CENTS:
        raise ValueError(raw)
    return cents


def parse_filters(
    params: Mapping[str, str], regie_codes: list[str], provider_names: list[str]
) -> tuple[PaymentFilters, dict[str, list[str]]]:
    """The criteria of the list's form, and the French message of each field that is wrong
    (a wrong field is left out of the criteria, never an error page)."""
    problems = Problems()
    values: dict[str, Any] = {}
    for name, key in (("du", "from_day"), ("au", "to_day")):
        if params.get(name, "").strip():
            try:
                values[key] = parse_day(params[name])
            except ValueError:
                problems.add(name, t("backoffice.payments.filters.bad_date"))
    for name, key in (("min", "min_cents"), ("max", "max_cents")):
        if params.get(name, "").strip():
            try:
                values[key] = parse_euros(params[name])
            except ValueError:
                problems.add(name, t("backoffice.payments.filters.bad_amount"))
    for name, key, allowed in (
        ("regie", "regie", regie_codes),
        ("etat", "state", list(STATES)),
        ("service", "provider", provider_names),
    ):
        value = params.get(name, "")
        if value and value not in allowed:
            problems.add(name, t("backoffice.payments.filters.bad_choice"))
        elif value:
            values[key] = value
    filters = PaymentFilters(**values)
    if filters.from_day and filters.to_day and filters.from_day > filters.to_day:
        problems.add("au", t("backoffice.payments.filters.dates_reversed"))
        filters = replace(filters, to_day=None)
    low, high = filters.min_cents, filters.max_cents
    if low is not None and high is not None and low > high:
        problems.add("max", t("backoffice.payments.filters.amounts_reversed"))
        filters = replace(filters, max_cents=None)
    return filters, problems.errors


def day_start(day: dt.date) -> dt.datetime:
    """Midnight in Paris, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(), tzinfo=TIMEZONE)


def _where(commune_id: int, filters: PaymentFilters) -> Any:
    where: Any = PaymentAttempt.commune == commune_id
    if filters.from_day is not None:
        where &= PaymentAttempt.created_at >= day_start(filters.from_day)
    if filters.to_day is not None:
        where &= PaymentAttempt.created_at < day_start(filters.to_day + dt.timedelta(days=1))
    if filters.regie:
        where &= PaymentAttempt.regie.code == filters.regie
    if filters.state:
        where &= PaymentAttempt.state == filters.state
    if filters.provider:
        where &= PaymentAttempt.provider == filters.provider
    if filters.min_cents is not None:
        where &= PaymentAttempt.amount_cents >= filters.min_cents
    if filters.max_cents is not None:
        where &= PaymentAttempt.amount_cents <= filters.max_cents
    return where


# --- The list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRow:
    id: int
    created_at: dt.datetime
    refdet: str
    payer: str
    email: str
    invoices: str
    amount_cents: int
    provider: str
    state: str
    authorisation_number: str
    regie_code: str


@dataclass(frozen=True)
class PaymentPage:
    rows: list[PaymentRow] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


async def list_payments(commune_id: int, filters: PaymentFilters, page: int = 1) -> PaymentPage:
    """One page of the commune's attempts matching `filters`, newest first (two queries, and
    one for the page's invoices and payers)."""
    where = _where(commune_id, filters)
    total = int(await PaymentAttempt.count().where(where))
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    rows = await (
        PaymentAttempt.select(
            PaymentAttempt.id,
            PaymentAttempt.created_at,
            PaymentAttempt.refdet,
            PaymentAttempt.email,
            PaymentAttempt.amount_cents,
            PaymentAttempt.provider,
            PaymentAttempt.state,
            PaymentAttempt.authorisation_number,
            PaymentAttempt.regie.code.as_alias("regie_code"),
        )
        .where(where)
        .order_by(PaymentAttempt.created_at, ascending=False)
        .order_by(PaymentAttempt.id, ascending=False)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    invoices, payers = await _invoices_and_payers([row["id"] for row in rows])
    return PaymentPage(
        rows=[
            PaymentRow(
                id=int(row["id"]),
                created_at=as_aware(row["created_at"]),  # type: ignore[arg-type]
                refdet=row["refdet"],
                payer=", ".join(payers.get(row["id"], [])),
                email=row["email"],
                invoices=", ".join(invoices.get(row["id"], [])),
                amount_cents=int(row["amount_cents"]),
                provider=row["provider"],
                state=row["state"],
                authorisation_number=row["authorisation_number"] or "",
                regie_code=row["regie_code"] or "",
            )
            for row in rows
        ],
        total=total,
        page=page,
    )


async def _invoices_and_payers(
    attempt_ids: list[int],
) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """Attempt id -> its invoice numbers, and -> its payers' names (each once)."""
    if not attempt_ids:
        return {}, {}
    links = await (
        PaymentAttemptInvoice.select(
            PaymentAttemptInvoice.attempt,
            PaymentAttemptInvoice.invoice.number.as_alias("number"),
            PaymentAttemptInvoice.invoice._.payer._.name.as_alias("payer"),
        )
        .where(PaymentAttemptInvoice.attempt.is_in(attempt_ids))
        .order_by(PaymentAttemptInvoice.id)
    )
    invoices: dict[int, list[str]] = {}
    payers: dict[int, list[str]] = {}
    for link in links:
        invoices.setdefault(link["attempt"], []).append(link["number"])
        names = payers.setdefault(link["attempt"], [])
        if link["payer"] not in names:
            names.append(link["payer"])
    return invoices, payers


# --- One attempt ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    decision: str
    comment: str
    agent: str
    decided_at: dt.datetime


@dataclass(frozen=True)
class PaymentDetail:
    attempt: dict[str, Any]
    invoices: list[dict[str, Any]]
    review: Review | None

    @property
    def in_review(self) -> bool:
        return self.attempt["state"] == REVIEW and self.review is None

    @property
    def raw_answer(self) -> str:
        """The service's last answer, pretty-printed (as stored when it is not JSON)."""
        raw = self.attempt["detail"] or ""
        try:
            return json.dumps(json.loads(raw), indent=2, ensure_ascii=False, sort_keys=True)
        except ValueError:
            return str(raw)


async def payment_detail(commune_id: int, attempt_id: int) -> PaymentDetail | None:
    """The attempt `attempt_id` of the commune (None for another commune's or none at all)."""
    row = await (
        PaymentAttempt.select(
            *PaymentAttempt.all_columns(),
            PaymentAttempt.regie.code.as_alias("regie_code"),
            PaymentAttempt.regie.name.as_alias("regie_name"),
            PaymentAttempt.account.email.as_alias("account_email"),
        )
        .where((PaymentAttempt.commune == commune_id) & (PaymentAttempt.id == attempt_id))
        .first()
    )
    if row is None:
        return None
    for key in ("created_at", "updated_at", "paid_at", "last_checked_at", "next_check_at"):
        row[key] = as_aware(row[key])
    invoices = await (
        PaymentAttemptInvoice.select(
            PaymentAttemptInvoice.amount_cents,
            PaymentAttemptInvoice.settled,
            PaymentAttemptInvoice.invoice.number.as_alias("number"),
            PaymentAttemptInvoice.invoice.status.as_alias("status"),
            PaymentAttemptInvoice.invoice.amount_cents.as_alias("invoice_amount"),
            PaymentAttemptInvoice.invoice.paid_cents.as_alias("invoice_paid"),
            PaymentAttemptInvoice.invoice._.payer._.name.as_alias("payer"),
            PaymentAttemptInvoice.invoice._.payer._.external_ref.as_alias("payer_ref"),
        )
        .where(PaymentAttemptInvoice.attempt == attempt_id)
        .order_by(PaymentAttemptInvoice.id)
    )
    return PaymentDetail(attempt=row, invoices=invoices, review=await _review(attempt_id))


async def _review(attempt_id: int) -> Review | None:
    row = await (
        PaymentReview.select(
            PaymentReview.decision,
            PaymentReview.comment,
            PaymentReview.decided_at,
            PaymentReview.agent.display_name.as_alias("name"),
            PaymentReview.agent.email.as_alias("email"),
        )
        .where(PaymentReview.attempt == attempt_id)
        .first()
    )
    if row is None:
        return None
    return Review(
        decision=row["decision"],
        comment=row["comment"],
        agent=row["name"] or row["email"] or "",
        decided_at=as_aware(row["decided_at"]),  # type: ignore[arg-type]
    )


# --- Asking the service again --------------------------------------------------------------


async def recheck(
    commune: CommuneContext, attempt_id: int, agent: AgentInfo, mailer: Mailer, client_ip: str
) -> str:
    """Ask the service about the attempt now; the flash key that says what it answered.

    An open attempt goes through the usual check (which applies the answer). A final one is
    only asked: its last answer is stored for the record, its state does not change (an
    attempt in review is then decided by the agent, with this answer in view).
    """
    _check(agent, commune.id, "payments.review")
    attempt = await attempt_by_id(attempt_id)
    if attempt is None or await _commune_of(attempt_id) != commune.id:
        raise LookupError(attempt_id)
    if attempt.state in OPEN_STATES:
        state = await checks.refresh(commune, attempt, mailer, min_interval=0)
        async with transaction():
            await _journal(agent, client_ip, commune.id, attempt.refdet, attempt.state, state)
        return f"payments_recheck_{state}"
    outcome = await _ask(commune, attempt_id)
    if outcome is None:
        return "payments_recheck_unavailable"
    async with transaction():
        await PaymentAttempt.update(
            {
                PaymentAttempt.detail: json.dumps(
                    dict(outcome.raw), ensure_ascii=False, sort_keys=True
                ),
                PaymentAttempt.last_checked_at: now(),
                PaymentAttempt.checks: PaymentAttempt.checks + 1,
            }
        ).where(PaymentAttempt.id == attempt_id)
        await _journal(
            agent, client_ip, commune.id, attempt.refdet, attempt.state, attempt.state, outcome
        )
    return f"payments_recheck_says_{outcome.result}"


async def _journal(
    agent: AgentInfo,
    client_ip: str,
    commune_id: int,
    refdet: str,
    before: str,
    after: str,
    outcome: PaymentOutcome | None = None,
) -> None:
    answer = {"result": outcome.result, "code": outcome.code} if outcome else {}
    await journal.record(
        "payments.recheck",
        agent.actor(client_ip),
        commune_id=commune_id,
        target=t("backoffice.payments.target", refdet=refdet),
        before={"state": before},
        after={"state": after, **answer},
    )


async def _ask(commune: CommuneContext, attempt_id: int) -> PaymentOutcome | None:
    """The service's own answer about the attempt, or None when it cannot be asked."""
    row = await (
        PaymentAttempt.select(
            PaymentAttempt.provider,
            PaymentAttempt.provider_reference,
            PaymentAttempt.regie.code.as_alias("regie_code"),
        )
        .where(PaymentAttempt.id == attempt_id)
        .first()
    )
    if row is None or not row["provider_reference"]:
        return None
    provider = provider_for_regie(commune, row["regie_code"])
    if provider is None or provider.name != row["provider"] or not provider.verifies_results:
        return None
    try:
        return await provider.fetch_outcome(row["provider_reference"])
    except Exception:  # the service is down: say so, change nothing
        return None


async def _commune_of(attempt_id: int) -> int | None:
    row = await (
        PaymentAttempt.select(PaymentAttempt.commune).where(PaymentAttempt.id == attempt_id).first()
    )
    return int(row["commune"]) if row else None


# --- The decision on an attempt in review --------------------------------------------------


class ReviewRefused(Exception):
    """The decision cannot be applied; `key` names the French message (flash catalogue)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


async def decide(
    commune: CommuneContext,
    attempt_id: int,
    decision: str,
    comment: str,
    agent: AgentInfo,
    mailer: Mailer,
    client_ip: str,
) -> str:
    """Confirm (settle the invoices, once, only on the service's verified "paid") or close
    (invoices untouched) an attempt in review; the flash key of the outcome. Raises `Problems`
    for the form, `ReviewRefused` when the decision cannot be applied."""
    _check(agent, commune.id, "payments.review")
    comment = _valid_decision(decision, comment)
    detail = await payment_detail(commune.id, attempt_id)
    if detail is None:
        raise LookupError(attempt_id)
    if not detail.in_review:
        raise ReviewRefused("not_in_review")
    outcome = await _paid_answer(commune, detail) if decision == REVIEW_CONFIRMED else None
    async with transaction():
        # Only an attempt still in review is decided: a second click finds it decided.
        reopened = await (
            PaymentAttempt.update({PaymentAttempt.state: PENDING})
            .where((PaymentAttempt.id == attempt_id) & (PaymentAttempt.state == REVIEW))
            .returning(PaymentAttempt.id)
        )
        if not reopened:
            raise ReviewRefused("not_in_review")
        if outcome is not None:
            # The usual settlement, as a check applies it: the invoices are locked, re-read,
            # and settled once; if one changed meanwhile, it answers "review" and we undo.
            if await apply_outcome(commune, attempt_id, outcome, mailer) != PAID:
                raise ReviewRefused("invoices_changed")
            after_state = PAID
        else:
            await PaymentAttempt.update(
                {
                    PaymentAttempt.state: EXPIRED,
                    PaymentAttempt.next_check_at: None,
                    PaymentAttempt.updated_at: now(),
                }
            ).where(PaymentAttempt.id == attempt_id)
            after_state = EXPIRED
        await PaymentReview.insert(
            PaymentReview(
                commune=commune.id,
                attempt=attempt_id,
                agent=agent.id,
                decision=decision,
                comment=comment,
                decided_at=now(),
            )
        )
        await journal.record(
            "payments.review",
            agent.actor(client_ip),
            commune_id=commune.id,
            target=t("backoffice.payments.target", refdet=detail.attempt["refdet"]),
            before={"state": REVIEW, "note": detail.attempt["note"]},
            after={"state": after_state, "decision": decision, "comment": comment},
        )
    return f"payments_review_{decision}"


def _valid_decision(decision: str, comment: str) -> str:
    """The comment, stripped; `Problems` when the decision or the comment is missing."""
    comment = comment.strip()
    if decision not in (REVIEW_CONFIRMED, REVIEW_CLOSED):
        raise _problem("decision", t("backoffice.payments.review.decision_missing"))
    if not comment:
        raise _problem("commentaire", t("backoffice.payments.review.comment_missing"))
    if len(comment) > COMMENT_MAX_LENGTH:
        raise _problem(
            "commentaire", t("backoffice.payments.review.comment_too_long", max=COMMENT_MAX_LENGTH)
        )
    return comment


async def _paid_answer(commune: CommuneContext, detail: PaymentDetail) -> PaymentOutcome:
    """The service's own answer, if it says paid and matches the attempt; else `ReviewRefused`."""
    outcome = await _ask(commune, int(detail.attempt["id"]))
    if outcome is None:
        raise ReviewRefused("unavailable")
    if outcome.result != "paid" or not outcome.verified:
        raise ReviewRefused("not_paid")
    if mismatches(detail.attempt, outcome):
        raise ReviewRefused("mismatch")
    return outcome


def _check(agent: AgentInfo, commune_id: int, permission: str) -> None:
    if not (can(agent, permission) and agent.works_in(commune_id)):
        raise NotAllowed


def _problem(name: str, message: str) -> Problems:
    problems = Problems()
    problems.add(name, message)
    return problems
