"""Familles: finding a payer, what the back office shows of it, and the actions on its accounts.

Every query is scoped by the commune's id (`_payer_of` is the one door to a payer): a payer of
another commune does not exist here, and the pages answer 404.

The search box takes a name, a reference or an e-mail address. Each kind uses an index: the
address (`payer_email (commune, email)`), the reference (`payer (commune, external_ref)`) and
the name's prefix on `payer.search_name` (lower-case, without accents), as a range, so
"mart" finds "MARTIN Clément" and "Martínez" among 100,000 payers at once
(`bench/family_search.py` measures it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from core import db_bulk
from core.accounts.names import search_name
from core.accounts.services import ACTIVATION_TTL, _create_pending_account, _new_token
from core.accounts.sessions import bump_auth_version
from core.accounts.tables import Account, AccountPayer, Payer, PayerEmail
from core.alert_addresses.tables import AlertAddress
from core.backoffice import journal
from core.backoffice.journal import Actor
from core.communes.context import CommuneContext
from core.db import as_date, transaction
from core.invoices.tables import Invoice
from core.mail.addresses import normalise_email
from core.mail.mailer import Mailer
from core.payments.attempts import AttemptView, attempt_views
from core.payments.tables import PaymentAttempt, PaymentAttemptInvoice

PER_PAGE = 50
PAYMENTS_SHOWN = 50
QUERY_MAX_LENGTH = 200
# Account states as the page shows them; "none" is an address without an account.
NO_ACCOUNT = "none"


class NotFound(Exception):
    """No such payer, account or address in the commune (the page answers 404)."""


@dataclass(frozen=True)
class PayerRow:
    id: int
    name: str
    external_ref: str
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class Listing:
    """One page of a list: `rows`, and enough to draw the pagination."""

    rows: list[Any]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class AddressState:
    """An address of the family and the parent's account behind it, if any."""

    email: str
    state: str  # none, pending, active or disabled
    account_id: int | None = None
    last_login_at: dt.datetime | None = None
    known_by_billing: bool = True  # False: an account's address the billing file does not list
    alert_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Family:
    payer: PayerRow
    addresses: list[AddressState] = field(default_factory=list)


# --- Search --------------------------------------------------------------------------------


def _collate() -> str:
    """PostgreSQL compares `search_name` in the "C" collation, as its index does."""
    return ' COLLATE "C"' if db_bulk.is_postgres() else ""


# Piccolo's raw queries read on the read connection; `{}` are its placeholders.
BY_EMAIL = (
    'SELECT p."id", p."name", p."external_ref" FROM "payer_email" e '
    'JOIN "payer" p ON p."id" = e."payer" '
    'WHERE e."commune" = {} AND e."email" = {} AND p."commune" = {} ORDER BY p."id"'
)
BY_REFERENCE = (
    'SELECT "id", "name", "external_ref" FROM "payer" WHERE "commune" = {} AND "external_ref" = {}'
)


async def search_payers(commune_id: int, query: str, page: int = 1) -> Listing:
    """Payers of the commune matching `query`: an address exactly (when it has an "@"), else a
    reference exactly (first) and the names starting with it; one page of `PER_PAGE`.

    Each part is its own indexed query: an `OR` of them, ordered by name, makes SQLite walk
    the whole commune's name index instead."""
    query = " ".join(query.split())[:QUERY_MAX_LENGTH]
    page = max(1, page)
    if not query:
        return Listing([], 0, 1)
    if "@" in query:
        email = normalise_email(query) or query.lower()
        exact = await Payer.raw(BY_EMAIL, commune_id, email, commune_id)
    else:
        exact = await Payer.raw(BY_REFERENCE, commune_id, query)
    start = (page - 1) * PER_PAGE
    rows = exact[start : start + PER_PAGE]
    total = len(exact)
    prefix = search_name(query) if "@" not in query else ""
    if prefix:
        names, count = await _names_starting(
            commune_id,
            prefix,
            exclude=[row["id"] for row in exact],
            offset=max(0, start - len(exact)),
            limit=PER_PAGE - len(rows),
        )
        rows += names
        total += count
    emails = await _emails_of([row["id"] for row in rows])
    payers = [
        PayerRow(row["id"], row["name"], row["external_ref"], tuple(emails.get(row["id"], [])))
        for row in rows
    ]
    return Listing(payers, total, page)


async def _names_starting(
    commune_id: int, prefix: str, *, exclude: list[int], offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The page of payers whose `search_name` starts with `prefix` (by name), and how many."""
    low, high = prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)
    column = f'"search_name"{_collate()}'
    where = f'"commune" = {{}} AND {column} >= {{}} AND {column} < {{}}'
    args: list[Any] = [commune_id, low, high]
    for payer_id in exclude:  # the payer found by its reference, listed first already
        where += ' AND "id" <> {}'
        args.append(payer_id)
    count = await Payer.raw(f'SELECT COUNT(*) AS n FROM "payer" WHERE {where}', *args)  # noqa: S608 -- constant SQL
    rows: list[dict[str, Any]] = []
    if limit > 0:
        rows = await Payer.raw(
            f'SELECT "id", "name", "external_ref" FROM "payer" WHERE {where} '  # noqa: S608
            f'ORDER BY {column}, "id" LIMIT {{}} OFFSET {{}}',
            *args,
            limit,
            offset,
        )
    return rows, int(count[0]["n"])


async def _emails_of(payer_ids: list[int]) -> dict[int, list[str]]:
    if not payer_ids:
        return {}
    rows = await (
        PayerEmail.select(PayerEmail.payer, PayerEmail.email)
        .where(PayerEmail.payer.is_in(payer_ids))
        .order_by(PayerEmail.email)
    )
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row["payer"], []).append(row["email"])
    return found


# --- One family ----------------------------------------------------------------------------


async def _payer_of(commune_id: int, payer_id: int) -> PayerRow:
    row = (
        await Payer.select(Payer.id, Payer.name, Payer.external_ref)
        .where((Payer.commune == commune_id) & (Payer.id == payer_id))
        .first()
    )
    if row is None:
        raise NotFound
    emails = await _emails_of([payer_id])
    return PayerRow(row["id"], row["name"], row["external_ref"], tuple(emails.get(payer_id, [])))


async def get_family(commune_id: int, payer_id: int) -> Family:
    """The payer, its addresses and the accounts behind them; raises `NotFound`."""
    payer = await _payer_of(commune_id, payer_id)
    linked = await AccountPayer.select(AccountPayer.account).where(AccountPayer.payer == payer_id)
    accounts = await Account.select(
        Account.id, Account.email, Account.state, Account.last_login_at
    ).where(
        (Account.commune == commune_id)
        & (
            Account.email.is_in(list(payer.emails) or [""])
            | Account.id.is_in([row["account"] for row in linked] or [0])
        )
    )
    alerts: dict[int, list[str]] = {}
    if accounts:
        for row in await AlertAddress.select(AlertAddress.account, AlertAddress.email).where(
            AlertAddress.account.is_in([a["id"] for a in accounts])
            & AlertAddress.confirmed_at.is_not_null()
        ):
            alerts.setdefault(row["account"], []).append(row["email"])
    by_email = {a["email"]: a for a in accounts}
    addresses = [_address(email, by_email.get(email), alerts, known=True) for email in payer.emails]
    addresses += [
        _address(a["email"], a, alerts, known=False)
        for a in accounts
        if a["email"] not in payer.emails
    ]
    return Family(payer, addresses)


def _address(
    email: str, account: dict[str, Any] | None, alerts: dict[int, list[str]], *, known: bool
) -> AddressState:
    if account is None:
        return AddressState(email, NO_ACCOUNT)
    return AddressState(
        email,
        account["state"],
        account["id"],
        account["last_login_at"],
        known_by_billing=known,
        alert_addresses=tuple(sorted(alerts.get(account["id"], []))),
    )


async def family_invoices(commune_id: int, payer_id: int, page: int = 1) -> Listing:
    """The payer's invoices, newest first, one page of `PER_PAGE`."""
    page = max(1, page)
    where = (Invoice.commune == commune_id) & (Invoice.payer == payer_id)
    total = await Invoice.count().where(where)
    rows = await (
        Invoice.select(
            Invoice.id,
            Invoice.number,
            Invoice.object,
            Invoice.issued_on,
            Invoice.due_on,
            Invoice.amount_cents,
            Invoice.paid_cents,
            Invoice.status,
            Invoice.regie.name.as_alias("regie_name"),
        )
        .where(where)
        .order_by(Invoice.issued_on, ascending=False)
        .order_by(Invoice.id, ascending=False)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    for row in rows:
        row["issued_on"] = as_date(row["issued_on"])
        row["due_on"] = as_date(row["due_on"])
    return Listing(rows, total, page)


async def family_payments(commune_id: int, payer_id: int) -> list[AttemptView]:
    """The online payments of the payer's invoices, newest first (the last `PAYMENTS_SHOWN`)."""
    links = await PaymentAttemptInvoice.select(PaymentAttemptInvoice.attempt).where(
        (PaymentAttemptInvoice.invoice.payer == payer_id)
        & (PaymentAttemptInvoice.invoice.commune == commune_id)
    )
    ids = sorted({row["attempt"] for row in links})
    if not ids:
        return []
    return await attempt_views(
        (PaymentAttempt.commune == commune_id) & PaymentAttempt.id.is_in(ids),
        limit=PAYMENTS_SHOWN,
    )


async def payer_facts(commune: CommuneContext, payer_id: int) -> list[tuple[str, str]]:
    """What the commune's plugins tell of the payer (hook `payer_facts`), in their order."""
    facts: list[tuple[str, str]] = []
    for pending in commune.hooks.payer_facts(commune=commune, payer_id=payer_id):
        if pending is not None:
            facts += [(str(label), str(value)) for label, value in await pending]
    return facts


# --- Actions -------------------------------------------------------------------------------


async def resend_activation(
    commune: CommuneContext, payer_id: int, email: str, mailer: Mailer, actor: Actor
) -> None:
    """Send the parents' activation e-mail (a new link) to an address of the payer that has no
    account or a pending one. Raises `NotFound` for any other address."""
    payer = await _payer_of(commune.id, payer_id)
    if email not in payer.emails:
        raise NotFound
    async with transaction():
        account = (
            await Account.select(Account.id, Account.state)
            .where((Account.commune == commune.id) & (Account.email == email))
            .first()
        )
        if account is not None and account["state"] != "pending":
            raise NotFound
        account_id = account["id"] if account else await _create_pending_account(commune, email)
        secret = await _new_token(account_id, "activation", ACTIVATION_TTL)
        await mailer.send(
            commune, "activation", email, link=mailer.link(commune, f"activation/{secret}")
        )
        await journal.record(
            "families.activation_resent",
            actor,
            commune_id=commune.id,
            target=email,
            before={"account": account["state"] if account else NO_ACCOUNT},
            after={"account": "pending"},
        )


async def set_account_disabled(
    commune_id: int, payer_id: int, account_id: int, actor: Actor, *, disabled: bool
) -> None:
    """Disable an account of the family (every session ends, login is refused) or enable it
    again (active if it has a password, else pending). Raises `NotFound`."""
    family = await get_family(commune_id, payer_id)
    target = next((a for a in family.addresses if a.account_id == account_id), None)
    if target is None:
        raise NotFound
    async with transaction():
        row = (
            await Account.select(Account.state, Account.password_hash, Account.email)
            .where((Account.id == account_id) & (Account.commune == commune_id))
            .first()
        )
        if row is None:
            raise NotFound
        new_state = "disabled" if disabled else "active" if row["password_hash"] else "pending"
        if (row["state"] == "disabled") == disabled:
            return  # already so: nothing to change, nothing to journal
        await Account.update({Account.state: new_state}).where(Account.id == account_id)
        if disabled:
            await bump_auth_version(account_id)
        await journal.record(
            "families.account_disable" if disabled else "families.account_enable",
            actor,
            commune_id=commune_id,
            target=row["email"],
            before={"state": row["state"]},
            after={"state": new_state},
        )
