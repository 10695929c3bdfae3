"""Suspending online payment, for one régie or a whole commune, with the text parents read.

One row per (commune, régie), or per commune for a whole-commune suspension; deleting the row
resumes. `suspensions_for()` reads a commune's rows in one indexed query, for the parents'
pages; `is_suspended()` answers for one régie. Suspending and resuming are journalled.

The parents' pages ask once per request: `request_suspensions()` keeps what it read in a
request-scoped cache (a context variable that `request_cache_middleware` gives each request),
so a list of 20 invoices costs one query, and a suspension shows on the very next request.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from core.backoffice import journal
from core.backoffice.identity import AgentInfo, NotAllowed
from core.backoffice.roles import can
from core.backoffice.tables import PaymentSuspension
from core.clock import now
from core.communes.tables import Regie
from core.db import quick_read, transaction
from core.i18n import t
from core.web.forms import Problems

MESSAGE_MAX_LENGTH = 1000


@dataclass(frozen=True)
class Suspension:
    """A suspension as the back office lists it (`message` as typed, maybe empty)."""

    regie_code: str | None
    message: str
    suspended_by: int | None
    suspended_at: dt.datetime

    @property
    def text(self) -> str:
        """What parents read: the message, or the default text."""
        return self.message or default_message()


def default_message() -> str:
    return t("backoffice.suspension.default_message")


async def suspend(
    commune_id: int,
    regie_code: str | None,
    message: str,
    agent: AgentInfo,
    client_ip: str = "",
) -> None:
    """Suspend online payment for `regie_code` (None: every régie of the commune), or change
    the message of a running suspension. Raises `NotAllowed` or `Problems`."""
    _check(agent, commune_id)
    text = message.strip()
    if len(text) > MESSAGE_MAX_LENGTH:
        raise _problem("message", t("backoffice.suspension.too_long", max=MESSAGE_MAX_LENGTH))
    async with transaction():
        regie_id = await _regie_id(commune_id, regie_code)
        existing = await _row(commune_id, regie_id)
        if existing is None:
            await PaymentSuspension.insert(
                PaymentSuspension(
                    commune=commune_id,
                    regie=regie_id,
                    message=text,
                    suspended_by=agent.id,
                    suspended_at=now(),
                )
            )
        elif existing["message"] != text:
            await PaymentSuspension.update(
                {PaymentSuspension.message: text, PaymentSuspension.suspended_by: agent.id}
            ).where(PaymentSuspension.id == existing["id"])
        else:
            return
        await journal.record(
            "payments.suspend",
            agent.actor(client_ip),
            commune_id=commune_id,
            target=_target(regie_code),
            before=None if existing is None else {"message": existing["message"]},
            after={"message": text},
        )


async def resume(
    commune_id: int, regie_code: str | None, agent: AgentInfo, client_ip: str = ""
) -> bool:
    """Resume online payment for `regie_code` (None: the whole-commune suspension); False when
    it was not suspended. A régie's own suspension and the commune's are separate rows."""
    _check(agent, commune_id)
    async with transaction():
        regie_id = await _regie_id(commune_id, regie_code)
        existing = await _row(commune_id, regie_id)
        if existing is None:
            return False
        await PaymentSuspension.delete().where(PaymentSuspension.id == existing["id"])
        await journal.record(
            "payments.resume",
            agent.actor(client_ip),
            commune_id=commune_id,
            target=_target(regie_code),
            before={"message": existing["message"]},
        )
    return True


async def list_suspensions(commune_id: int) -> list[Suspension]:
    """The commune's suspensions, the whole-commune one first, then by régie code."""
    rows = await PaymentSuspension.select(
        PaymentSuspension.regie.code.as_alias("regie_code"),
        PaymentSuspension.message,
        PaymentSuspension.suspended_by,
        PaymentSuspension.suspended_at,
    ).where(PaymentSuspension.commune == commune_id)
    suspensions = [
        Suspension(
            regie_code=row["regie_code"],
            message=row["message"],
            suspended_by=row["suspended_by"],
            suspended_at=row["suspended_at"],
        )
        for row in rows
    ]
    return sorted(suspensions, key=lambda s: (s.regie_code is not None, s.regie_code or ""))


# Hand-written: read on every invoice a parent opens, where Piccolo's query builder took more
# CPU than the query (see `core.db.quick_read`).
SUSPENSIONS_SQL = """SELECT r.code AS regie_code, s.message FROM payment_suspension s
LEFT JOIN regie r ON r.id = s.regie WHERE s.commune = {}"""


async def suspensions_for(commune_id: int) -> dict[str | None, str]:
    """Régie code (None: the whole commune) -> the text parents read, in one query."""
    rows = await quick_read(SUSPENSIONS_SQL, commune_id)
    return {row["regie_code"]: row["message"] or default_message() for row in rows}


async def is_suspended(commune_id: int, regie_code: str) -> str | None:
    """The text parents read when online payment is suspended for `regie_code` (its own
    suspension's, else the commune's), or None when they may pay."""
    return suspension_text(await suspensions_for(commune_id), regie_code)


_request_cache: ContextVar[dict[int, dict[str | None, str]] | None] = ContextVar(
    "payment_suspensions", default=None
)


async def request_suspensions(commune_id: int) -> dict[str | None, str]:
    """`suspensions_for(commune_id)`, read once per request (every time outside a request)."""
    cache = _request_cache.get()
    if cache is None:
        return await suspensions_for(commune_id)
    if commune_id not in cache:
        cache[commune_id] = await suspensions_for(commune_id)
    return cache[commune_id]


def remember_suspensions(commune_id: int, rows: list[Any]) -> None:
    """Keep for `request_suspensions()` the commune's suspensions another statement of this
    request read (rows with `regie_code` and `suspension`, the text): the invoice's detail reads
    them with the invoice. Outside a request, nothing is kept."""
    cache = _request_cache.get()
    if cache is not None:
        cache[commune_id] = {
            row["regie_code"]: row["suspension"] or default_message() for row in rows
        }


def cached_suspensions(commune_id: int) -> dict[str | None, str] | None:
    """What `request_suspensions()` already read in this request, or None (for sync code)."""
    cache = _request_cache.get()
    return None if cache is None else cache.get(commune_id)


def suspension_text(suspensions: dict[str | None, str], regie_code: str) -> str | None:
    """The text parents read for `regie_code` (its own suspension's, else the commune's)."""
    return suspensions.get(regie_code, suspensions.get(None))


def request_cache_middleware(app: ASGIApp) -> ASGIApp:
    """Give each HTTP request an empty cache of suspensions (never shared between requests)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        token = _request_cache.set({})
        try:
            await app(scope, receive, send)
        finally:
            _request_cache.reset(token)

    return middleware


async def _regie_id(commune_id: int, regie_code: str | None) -> int | None:
    if regie_code is None:
        return None
    row = (
        await Regie.select(Regie.id)
        .where((Regie.commune == commune_id) & (Regie.code == regie_code))
        .first()
    )
    if row is None:
        raise _problem("regie", t("backoffice.suspension.regie_unknown", code=regie_code))
    return int(row["id"])


async def _row(commune_id: int, regie_id: int | None) -> dict[str, Any] | None:
    regie = (
        PaymentSuspension.regie.is_null()
        if regie_id is None
        else PaymentSuspension.regie == regie_id
    )
    return (
        await PaymentSuspension.select(PaymentSuspension.id, PaymentSuspension.message)
        .where((PaymentSuspension.commune == commune_id) & regie)
        .first()
    )


def _target(regie_code: str | None) -> str:
    if regie_code is None:
        return t("backoffice.suspension.target_commune")
    return t("backoffice.suspension.target_regie", code=regie_code)


def _check(agent: AgentInfo, commune_id: int) -> None:
    if not (can(agent, "suspension.write") and agent.works_in(commune_id)):
        raise NotAllowed


def _problem(name: str, message: str) -> Problems:
    problems = Problems()
    problems.add(name, message)
    return problems
