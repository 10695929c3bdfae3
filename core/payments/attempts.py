"""Payment attempts: creating and starting one, reading them back, and their state changes.

One attempt per try, with its own `refdet` (and, for PayFiP, its own idop). An attempt is
`created`, then `pending` once its service said where to send the parent; `checks` asks the
service about it and `settlement` applies the answer. Every state change goes through `move()`,
which only ever leaves an open state: final states never change.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from core.communes.context import CommuneContext
from core.communes.tables import Regie
from core.db import as_aware, current_engine, transaction
from core.hookspecs import PaymentRequest, PaymentStartFailed
from core.i18n import t
from core.invoices.tables import Invoice
from core.payments.basket import BasketError, PaymentPlan
from core.payments.holds import holds_for
from core.payments.tables import (
    CREATED,
    DIRECT_DEBIT_RESULTS,
    FAILED,
    OPEN_STATES,
    PENDING,
    PaymentAttempt,
    PaymentAttemptInvoice,
)
from core.payments.text import normalize_objet
from core.web.formatting import TIMEZONE
from core.web.identity import SignedIn

logger = logging.getLogger(__name__)

REFDET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone
RECHECK_FIRST_SECONDS = 60  # the first background check of a verifiable attempt, after its start


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_refdet(now: dt.datetime | None = None) -> str:
    """A fresh reference: the date, then 12 random characters (20 in all, alphanumeric)."""
    day = (now or utcnow()).astimezone(TIMEZONE).strftime("%Y%m%d")
    return day + "".join(secrets.choice(REFDET_ALPHABET) for _ in range(12))


def service_urls(base_url: str, commune: CommuneContext, provider: str) -> tuple[str, str]:
    """(return URL, notification URL) a service is given for an attempt: the core's routes
    (`core.payments.service_routes`) under `/<commune>/paiement/<provider>/`, absolute."""
    root = base_url.rstrip("/") + commune.url(f"paiement/{provider}/")
    return root + "retour", root + "notification"


# --- Starting an attempt -------------------------------------------------------------------


async def lock_invoices(invoice_ids: Sequence[int]) -> None:
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
    objet = normalize_objet(t("payments.objet", commune=commune.name, references=plan.references))
    return_url, notification_url = service_urls(base_url, commune, plan.provider.name)
    request = PaymentRequest(
        commune=commune,
        regie_code=plan.regie_code,
        numcli=plan.numcli,
        refdet=new_refdet(now),
        amount_cents=plan.amount_cents,
        email=account.email,
        objet=objet,
        exer=str(now.astimezone(TIMEZONE).year),
        base_url=base_url,
        return_url=return_url,
        notification_url=notification_url,
    )
    attempt = await _record(commune, account, plan, request, now)
    try:
        redirect = await plan.provider.start(request)
    except PaymentStartFailed as exc:
        await move(attempt, FAILED, {PaymentAttempt.result_code: exc.code}, note=exc.message)
        raise
    except Exception as exc:
        logger.exception("payment %s: %s could not start it", request.refdet, plan.provider.name)
        await move(attempt, FAILED, {}, note=repr(exc)[:500])
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
    return request.refdet, redirect.url


async def _record(
    commune: CommuneContext,
    account: SignedIn,
    plan: PaymentPlan,
    request: PaymentRequest,
    now: dt.datetime,
) -> int:
    """Store the attempt (`created`) and its invoices, unless another attempt holds them."""
    ids = [invoice.id for invoice in plan.invoices]
    async with transaction():
        await lock_invoices(ids)
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
                    refdet=request.refdet,
                    numcli=request.numcli,
                    exer=request.exer,
                    amount_cents=request.amount_cents,
                    email=request.email,
                    objet=request.objet,
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
    return int(attempt)


async def _regie_id(commune_id: int, code: str) -> int:
    row = await (
        Regie.select(Regie.id).where((Regie.commune == commune_id) & (Regie.code == code)).first()
    )
    if row is None:
        raise BasketError(t("payments.basket.unavailable"))
    return int(row["id"])


# --- State changes -------------------------------------------------------------------------


async def move(attempt_id: int, state: str, values: dict[Any, Any], *, note: str = "") -> bool:
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


async def state_of(attempt_id: int, default: str) -> str:
    """The attempt's state now (`default` if it has gone)."""
    row = (
        await PaymentAttempt.select(PaymentAttempt.state)
        .where(PaymentAttempt.id == attempt_id)
        .first()
    )
    return str(row["state"]) if row else default


# --- Reading attempts ----------------------------------------------------------------------


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
        return self.result_code in DIRECT_DEBIT_RESULTS

    @property
    def invoice_numbers(self) -> str:
        return ", ".join(number for _, number, _ in self.invoices)

    @property
    def selection_query(self) -> str:
        """The query string selecting this attempt's invoices again (to retry)."""
        return "&".join(f"facture={invoice_id}" for invoice_id, _, _ in self.invoices)


async def attempt_views(where: Any, limit: int = 50) -> list[AttemptView]:
    """The attempts matching `where` (a Piccolo condition), newest first."""
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
    return [_view(row, tuple(by_attempt.get(row["id"], []))) for row in rows]


def _view(row: dict[str, Any], invoices: tuple[tuple[int, str, int], ...]) -> AttemptView:
    return AttemptView(
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
        created_at=as_aware(row["created_at"]),  # type: ignore[arg-type]  # NOT NULL column
        regie_code=row["regie_code"] or "",
        regie_name=row["regie_name"] or "",
        account_id=row["account"],
        invoices=invoices,
    )


async def attempt_by_id(attempt_id: int) -> AttemptView | None:
    views = await attempt_views(PaymentAttempt.id == attempt_id, limit=1)
    return views[0] if views else None


async def get_attempt(commune_id: int, refdet: str) -> AttemptView | None:
    views = await attempt_views(
        (PaymentAttempt.commune == commune_id) & (PaymentAttempt.refdet == refdet), limit=1
    )
    return views[0] if views else None


async def find_by_provider_reference(
    commune_id: int, provider: str, reference: str
) -> AttemptView | None:
    """The attempt this portal created for a service's operation id (an idop), if any."""
    views = await attempt_views(
        (PaymentAttempt.commune == commune_id)
        & (PaymentAttempt.provider == provider)
        & (PaymentAttempt.provider_reference == reference),
        limit=1,
    )
    return views[0] if views else None


async def account_attempts(commune_id: int, account_id: int, limit: int = 50) -> list[AttemptView]:
    """The account's payments, newest first, without the ones never sent to a service."""
    return await attempt_views(
        (PaymentAttempt.commune == commune_id)
        & (PaymentAttempt.account == account_id)
        & (PaymentAttempt.state != FAILED),
        limit=limit,
    )
