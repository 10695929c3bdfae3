"""What a parent sees of the invoices: the tabs of "Mes factures", one invoice, its actions.

Every query is scoped twice: by the commune's id, and by the payers linked to the account
(`AccountPayer`) within that commune. An invoice outside that scope does not exist for the
parent: `get_invoice` returns None and the pages answer 404.

Lists are sorted by issue date, newest first (then by id, newest first, so pages are stable):
a parent looks for the invoice that just arrived, and the same order in every tab keeps the
tabs predictable. Overdue invoices are marked in the list, not moved.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.accounts.sessions import (
    SIGNED_IN_ACCOUNT,
    SIGNED_IN_CTE,
    signed_in,
    signed_in_rows,
)
from core.accounts.tables import AccountPayer
from core.backoffice.suspension import remember_suspensions
from core.communes.context import CommuneContext
from core.db import as_date, quick_read, statements_are_round_trips
from core.i18n import has, t
from core.invoices.tables import PAID, STATUSES, TO_PAY, TREASURY, Invoice
from core.payments.holds import (
    HOLD_COLUMNS,
    HOLD_JOIN,
    Hold,
    hold_join_args,
    holds_for,
    holds_in_rows,
)
from core.payments.tables import DIRECT_DEBIT_RESULTS
from core.web.formatting import TIMEZONE
from core.web.identity import SignedIn

PER_PAGE = 20
ONLINE_PAYMENT_MODE = "en_ligne"  # core.invoices.modes.ONLINE
CARD, DIRECT_DEBIT = "carte", "prelevement"  # core.invoices.modes.CARD, DIRECT_DEBIT

__all__ = [
    "PAID",
    "PER_PAGE",
    "TO_PAY",
    "TREASURY",
    "InvoiceList",
    "InvoiceView",
    "actions_for",
    "get_invoice",
    "get_invoices",
    "is_payable",
    "list_invoices",
    "payability",
    "today",
]


def today() -> dt.date:
    """Today in France: an invoice due today is not overdue until midnight in Paris."""
    return dt.datetime.now(TIMEZONE).date()


@dataclass(frozen=True)
class InvoiceView:
    """One invoice as the parent sees it (and as the invoice hooks receive it)."""

    id: int
    number: str
    payment_reference: str
    object: str
    issued_on: dt.date
    due_on: dt.date | None
    amount_cents: int
    paid_cents: int
    status: str
    paid_on: dt.date | None
    payment_mode: str
    authorisation_number: str
    direct_debit: bool
    debit_on: dt.date | None
    pdf_path: str
    regie_code: str
    regie_name: str
    payer_name: str
    overdue: bool = False
    payment_hold: Hold | None = None  # an online payment in progress, declared or in review
    # The portal's online payment that settled the invoice, if any: by card or direct debit
    # ("carte", "prelevement"), and its reference (refdet) when the viewing account made it
    # (its receipt is theirs alone).
    online_means: str = ""
    receipt_refdet: str = ""

    @property
    def remaining_cents(self) -> int:
        """What is still due: amount minus what was paid, never below zero."""
        return max(self.amount_cents - self.paid_cents, 0)

    @property
    def paid_online(self) -> bool:
        return self.payment_mode == ONLINE_PAYMENT_MODE

    @property
    def settlement(self) -> str:
        """How it was paid, as a code the list words ("cheque", "en_ligne_carte"...): the
        payment mode, with the means of the portal's online payment when it is known."""
        if self.paid_online and self.online_means:
            return f"{self.payment_mode}_{self.online_means}"
        return self.payment_mode

    @property
    def payment_mode_label(self) -> str:
        """The French label of the payment mode; an unknown code is shown as imported."""
        if not self.payment_mode:
            return ""
        key = f"payment_modes.{self.payment_mode}"
        return t(key) if has(key) else self.payment_mode


@dataclass(frozen=True)
class InvoiceList:
    """One page of one tab."""

    status: str
    rows: list[InvoiceView]
    total: int  # invoices in this tab, all pages
    page: int
    per_page: int
    counts: dict[str, int] = field(default_factory=dict)  # status -> invoices, every tab
    due_cents: int = 0  # "Reste à payer": amount - paid over every invoice à régler

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)

    @property
    def has_any(self) -> bool:
        """Whether the parent has any invoice at all, in any tab."""
        return any(self.counts.values())


def _visible(commune_id: int, account_id: int) -> Any:
    """The invoices of the account's payers, in the commune: the one scope of every query
    (`VISIBLE_SQL` says the same for the hand-written ones)."""
    payers = AccountPayer.select(AccountPayer.payer).where(
        (AccountPayer.account == account_id)
        & (AccountPayer.account.commune == commune_id)
        & (AccountPayer.payer.commune == commune_id)
    )
    return (Invoice.commune == commune_id) & Invoice.payer.is_in(payers)


def visible_to(commune_id: int, account_id: int) -> Any:
    """The same scope, for another feature's query on the account's invoices (its data export)."""
    return _visible(commune_id, account_id)


def _columns() -> list[Any]:
    return [
        *Invoice.all_columns(exclude=[Invoice.commune, Invoice.published_at, Invoice.updated_at]),
        Invoice.regie.code.as_alias("regie_code"),
        Invoice.regie.name.as_alias("regie_name"),
        Invoice.payer.name.as_alias("payer_name"),
    ]


# The parents' list and detail pages run on every visit: their statements are written by hand
# because building them with Piccolo's query builder (joins, aliases, the nested scope) took
# more CPU than the database took to run them. They say what `_visible()` and `_columns()` say.


# The unary `+` keeps SQLite (which has no statistics) off the commune's indexes: it would
# walk every invoice or payer of the commune; the account's payers lead to their invoices by
# the payer index, whatever the commune's size. PostgreSQL plans the same either way.
def _visible_sql(account: str = "{}") -> str:
    """The scope for the account `account`: a placeholder, or the session's in a statement
    that opens with it (`SIGNED_IN_ACCOUNT`)."""
    return f"""+i.commune = {{}} AND i.payer IN (
    SELECT ap.payer FROM account_payer ap
    JOIN account a ON a.id = ap.account
    JOIN payer p ON p.id = ap.payer
    WHERE ap.account = {account} AND +a.commune = {{}} AND +p.commune = {{}})"""  # noqa: S608 (no value in the text)


VISIBLE_SQL = _visible_sql()

_ROW_COLUMNS = """i.id, i.number, i.payment_reference, i.object, i.issued_on, i.due_on,
    i.amount_cents, i.paid_cents, i.status, i.paid_on, i.payment_mode, i.authorisation_number,
    i.direct_debit, i.debit_on, i.pdf_path,
    r.code AS regie_code, r.name AS regie_name, p.name AS payer_name"""
_ROW_TABLES = "invoice i JOIN regie r ON r.id = i.regie JOIN payer p ON p.id = i.payer"


def _rows_sql(account: str) -> str:
    return f"""SELECT {_ROW_COLUMNS},
    NULL AS attempt_refdet, NULL AS attempt_result, NULL AS attempt_account
FROM {_ROW_TABLES} WHERE {_visible_sql(account)}"""  # noqa: S608 (no value in the text)


# With the online payment that settled the invoice, if any: at most one (a unique index on the
# settled links), found by that index. Only "Réglées" and the detail show it: the other tabs
# do not pay for the joins.
def _settled_rows_sql(account: str) -> str:
    return f"""SELECT {_ROW_COLUMNS},
    pa.refdet AS attempt_refdet, pa.result_code AS attempt_result, pa.account AS attempt_account
FROM {_ROW_TABLES}
LEFT JOIN payment_attempt_invoice pai ON pai.invoice = i.id AND pai.settled
LEFT JOIN payment_attempt pa ON pa.id = pai.attempt
WHERE {_visible_sql(account)}"""  # noqa: S608 (no value in the text)


def _tab_page_sql(tab: str, account: str = "{}") -> str:
    rows = _settled_rows_sql(account) if tab == PAID else _rows_sql(account)
    return f"""{rows} AND i.status = {{}}
ORDER BY i.issued_on DESC, i.id DESC LIMIT {{}} OFFSET {{}}"""


TAB_PAGE_SQL = {tab: _tab_page_sql(tab) for tab in STATUSES}

# A list page in one statement (on PostgreSQL each statement is a round trip, whose TCP work on
# loopback costs the web process more CPU than the rows themselves): every tab's count and, row
# by row, what is still due (an overpaid invoice does not lower the others'), in the one row an
# aggregate without GROUP BY always gives, joined to the page's rows (none: the row alone).
_COUNTS = "".join(
    f"SUM(CASE WHEN i.status = {{}} THEN 1 ELSE 0 END) AS count_{n}, " for n in range(len(STATUSES))
)


# "À régler" also joins the online payments holding its rows (`core.payments.holds`), after the
# page's LIMIT: an invoice two attempts hold comes twice, folded by `list_invoices`. The other
# tabs have no invoice to pay, so nothing to hold. Opened with the session (`session`), every
# row also carries the session's columns, and no session gives no row at all.
def _list_page_sql(tab: str, account: str = "{}", *, session: bool = False) -> str:
    return f"""{SIGNED_IN_CTE if session else ""}
SELECT {"si.*, " if session else ""}s.*, r.*{", " + HOLD_COLUMNS if tab == TO_PAY else ""}
FROM {"signed_in si CROSS JOIN " if session else ""}(
    SELECT {_COUNTS}SUM(CASE WHEN i.status = {{}} AND i.amount_cents > i.paid_cents
        THEN i.amount_cents - i.paid_cents ELSE 0 END) AS due
    FROM invoice i WHERE {_visible_sql(account)}) s
LEFT JOIN ({_tab_page_sql(tab, account)}) r ON 1 = 1
{HOLD_JOIN.format(invoice="r.id") if tab == TO_PAY else ""}
ORDER BY r.issued_on DESC, r.id DESC"""  # noqa: S608 (no value in the text)


LIST_PAGE_SQL = {tab: _list_page_sql(tab) for tab in STATUSES}
SIGNED_IN_LIST_PAGE_SQL = {
    tab: _list_page_sql(tab, SIGNED_IN_ACCOUNT, session=True) for tab in STATUSES
}

# One invoice, with the online payments holding it (one row each, if any), then the commune's
# suspensions of online payment (`core.backoffice.suspension`, read with the invoice: a round
# trip less), as rows without an invoice id: their régie code and text, NULL elsewhere.
_ONE_COLUMNS = f"""{_ROW_COLUMNS},
    pa.refdet AS attempt_refdet, pa.result_code AS attempt_result, pa.account AS attempt_account,
    {HOLD_COLUMNS}"""
# The second part's columns, one per column of the first (a `UNION` matches them by position):
# the régie's code under `regie_code`, NULL elsewhere.
_SUSPENSION_COLUMNS = ", ".join(
    {"regie_code": "r.code"}.get(column.split()[-1].split(".")[-1], "NULL")
    for column in _ONE_COLUMNS.split(",")
)


def _one_invoice_sql(account: str = "{}") -> str:
    return f"""SELECT {_ONE_COLUMNS}, NULL AS suspension
FROM {_ROW_TABLES}
LEFT JOIN payment_attempt_invoice pai ON pai.invoice = i.id AND pai.settled
LEFT JOIN payment_attempt pa ON pa.id = pai.attempt
{HOLD_JOIN.format(invoice="i.id")}
WHERE {_visible_sql(account)} AND i.id = {{}}
UNION ALL
SELECT {_SUSPENSION_COLUMNS}, s.message
FROM payment_suspension s LEFT JOIN regie r ON r.id = s.regie WHERE s.commune = {{}}"""  # noqa: S608 (no value in the text)


ONE_INVOICE_SQL = _one_invoice_sql()
# Opened with the session, as the list (`SIGNED_IN_LIST_PAGE_SQL`): each row also carries the
# session's columns, and a session with neither the invoice nor a suspension still gives one
# row, whose other columns are NULL (a suspension's text is never NULL: "" for the default).
SIGNED_IN_ONE_INVOICE_SQL = f"""{SIGNED_IN_CTE}
SELECT si.*, u.* FROM signed_in si
LEFT JOIN ({_one_invoice_sql(SIGNED_IN_ACCOUNT)}) u ON 1 = 1"""  # noqa: S608 (no value in the text)


NO_ATTEMPT = {"attempt_refdet": None, "attempt_result": None, "attempt_account": None}


def _scope_args(commune_id: int, account_id: int | None) -> list[int]:
    """The values of `VISIBLE_SQL`'s placeholders, in order (without the account's when it is
    the session's: `SIGNED_IN_ACCOUNT`)."""
    if account_id is None:
        return [commune_id, commune_id, commune_id]
    return [commune_id, account_id, commune_id, commune_id]


def _view(
    row: dict[str, Any], on: dt.date, account_id: int | None, hold: Hold | None
) -> InvoiceView:
    due_on = as_date(row["due_on"])
    refdet = row["attempt_refdet"] or ""
    status = row["status"]
    direct_debit = bool(row["direct_debit"])
    amount, paid = int(row["amount_cents"]), int(row["paid_cents"])
    # Every field set in one step: the generated `__init__` of a frozen dataclass sets each of
    # its 23 fields through `object.__setattr__`, about half of the cost of a list page's
    # views. Same instance, still frozen (`test_every_view_carries_every_field`).
    view = object.__new__(InvoiceView)
    view.__dict__.update(
        id=int(row["id"]),
        number=row["number"],
        payment_reference=row["payment_reference"] or "",
        object=row["object"] or "",
        issued_on=as_date(row["issued_on"]),
        due_on=due_on,
        amount_cents=amount,
        paid_cents=paid,
        status=status,
        paid_on=as_date(row["paid_on"]),
        payment_mode=row["payment_mode"] or "",
        authorisation_number=row["authorisation_number"] or "",
        direct_debit=direct_debit,
        debit_on=as_date(row["debit_on"]),
        pdf_path=row["pdf_path"] or "",
        regie_code=row["regie_code"] or "",
        regie_name=row["regie_name"] or "",
        payer_name=row["payer_name"] or "",
        # A direct debit is taken by the commune: the parent is never late with it.
        overdue=(
            status == TO_PAY
            and due_on is not None
            and due_on < on
            and amount > paid
            and not direct_debit
        ),
        payment_hold=hold,
        online_means=(
            (DIRECT_DEBIT if row["attempt_result"] in DIRECT_DEBIT_RESULTS else CARD)
            if refdet
            else ""
        ),
        receipt_refdet=refdet if refdet and row["attempt_account"] == account_id else "",
    )
    return view


def _int(value: int | Decimal | None) -> int:
    return int(value or 0)


async def list_invoices(
    commune_id: int, account_id: int, tab: str, page: int = 1, per_page: int = PER_PAGE
) -> InvoiceList:
    """One page of the tab `tab` (a status), with every tab's count and the sum still due.

    A page past the last one shows the last one; below 1, the first.
    """
    now = dt.datetime.now(dt.UTC)
    rows = await quick_read(
        LIST_PAGE_SQL[tab], *_list_page_args(commune_id, account_id, tab, page, per_page, now)
    )
    return await _listing(rows, commune_id, account_id, tab, page, per_page, now)


async def list_invoices_signed_in(
    secret: str | None,
    commune_id: int,
    idle_timeout: dt.timedelta | None,
    tab: str,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> tuple[SignedIn, InvoiceList] | None:
    """The session behind `secret` and one page of its account's tab; None when there is no
    open session (`core.accounts.sessions.accept_session`).

    On PostgreSQL both come in one statement, a round trip less (about a tenth of the page's
    CPU); the rows read with a session `accept_session` refuses are not looked at. On SQLite,
    where a statement is a call into the library, the session's twelve columns on each of the
    page's rows cost more than a second statement: the session is looked up first, as on
    every other page.
    """
    if not statements_are_round_trips():
        account = await signed_in(secret, commune_id, idle_timeout)
        if account is None:
            return None
        return account, await list_invoices(commune_id, account.account_id, tab, page, per_page)
    now = dt.datetime.now(dt.UTC)
    found = await signed_in_rows(
        secret,
        commune_id,
        idle_timeout,
        SIGNED_IN_LIST_PAGE_SQL[tab],
        *_list_page_args(commune_id, None, tab, page, per_page, now),
    )
    if found is None:
        return None
    account, rows = found
    return account, await _listing(rows, commune_id, account.account_id, tab, page, per_page, now)


def _list_page_args(
    commune_id: int, account_id: int | None, tab: str, page: int, per_page: int, now: dt.datetime
) -> list[Any]:
    """The values of a list statement's placeholders after the session's, in order."""
    if tab not in STATUSES:
        raise ValueError(f"unknown invoice tab {tab!r}")
    scope = _scope_args(commune_id, account_id)
    offset = (max(page, 1) - 1) * per_page
    holding = hold_join_args(now) if tab == TO_PAY else []
    return [*STATUSES, TO_PAY, *scope, *scope, tab, per_page, offset, *holding]


async def _listing(
    rows: list[Any],
    commune_id: int,
    account_id: int,
    tab: str,
    page: int,
    per_page: int,
    now: dt.datetime,
) -> InvoiceList:
    """The page from a list statement's rows."""
    page = max(page, 1)
    summary = rows[0]
    counts = {status: _int(summary[f"count_{n}"]) for n, status in enumerate(STATUSES)}
    due = _int(summary["due"])
    total = counts[tab]
    pages = max((total + per_page - 1) // per_page, 1)
    holds: dict[int, Hold] | None
    if page > pages:  # past the last page (an old link): the last one, read again
        page = pages
        scope = _scope_args(commune_id, account_id)
        rows = await quick_read(TAB_PAGE_SQL[tab], *scope, tab, per_page, (page - 1) * per_page)
        holds = None  # read apart, by `_views`
    else:
        holds = holds_in_rows(rows, now) if tab == TO_PAY else {}
    rows = _unique([row for row in rows if row["id"] is not None])
    return InvoiceList(
        status=tab,
        rows=await _views(rows, account_id, holds),
        total=total,
        page=page,
        per_page=per_page,
        counts=counts,
        due_cents=due,
    )


async def get_invoice(commune_id: int, account_id: int, invoice_id: int) -> InvoiceView | None:
    """The invoice `invoice_id` if the account may see it in this commune, else None.

    The commune's suspensions of online payment come with it, kept for the request's invoice
    actions (`core.backoffice.suspension.request_suspensions`).
    """
    now = dt.datetime.now(dt.UTC)
    found = await quick_read(
        ONE_INVOICE_SQL,
        *hold_join_args(now),
        *_scope_args(commune_id, account_id),
        invoice_id,
        commune_id,
    )
    return await _invoice(found, commune_id, account_id, now)


async def get_invoice_signed_in(
    secret: str | None, commune_id: int, idle_timeout: dt.timedelta | None, invoice_id: int
) -> tuple[SignedIn, InvoiceView | None] | None:
    """The session behind `secret` and the invoice `invoice_id` if its account may see it in
    this commune (else None); None when there is no open session. On PostgreSQL in one
    statement, on SQLite the session first (see `list_invoices_signed_in`)."""
    if not statements_are_round_trips():
        account = await signed_in(secret, commune_id, idle_timeout)
        if account is None:
            return None
        return account, await get_invoice(commune_id, account.account_id, invoice_id)
    now = dt.datetime.now(dt.UTC)
    found = await signed_in_rows(
        secret,
        commune_id,
        idle_timeout,
        SIGNED_IN_ONE_INVOICE_SQL,
        *hold_join_args(now),
        *_scope_args(commune_id, None),
        invoice_id,
        commune_id,
    )
    if found is None:
        return None
    account, rows = found
    # Without the row a session with neither the invoice nor a suspension gives.
    rows = [row for row in rows if row["id"] is not None or row["suspension"] is not None]
    return account, await _invoice(rows, commune_id, account.account_id, now)


async def _invoice(
    found: list[Any], commune_id: int, account_id: int, now: dt.datetime
) -> InvoiceView | None:
    """The invoice from a detail statement's rows (its suspensions kept for the request)."""
    rows = [row for row in found if row["id"] is not None]
    remember_suspensions(commune_id, [row for row in found if row["id"] is None])
    if not rows:
        return None
    holds = holds_in_rows(rows, now) if rows[0]["status"] == TO_PAY else {}
    return (await _views(rows[:1], account_id, holds))[0]


def _unique(rows: list[Any]) -> list[Any]:
    """The rows in order, once each (a row joined to several holding attempts comes again)."""
    return list({row["id"]: row for row in rows}.values())


async def invoice_exists(invoice_id: int) -> bool:
    """Whether any invoice, of any payer or commune, has this id (for the security log)."""
    return bool(await Invoice.exists().where(Invoice.id == invoice_id))


async def get_invoices(
    commune_id: int,
    account_id: int,
    invoice_ids: Sequence[int] | None = None,
    *,
    status: str | None = None,
    limit: int = 500,
) -> list[InvoiceView]:
    """The invoices the account may see among `invoice_ids` (all if None), optionally in one
    state; oldest due first (the order a parent pays them in)."""
    where = _visible(commune_id, account_id)
    if invoice_ids is not None:
        where &= Invoice.id.is_in(list(invoice_ids) or [0])
    if status is not None:
        where &= Invoice.status == status
    rows = await (
        Invoice.select(*_columns())
        .where(where)
        .order_by(Invoice.due_on, Invoice.issued_on, Invoice.id)
        .limit(limit)
    )
    # Not read here: the online payment that settled an invoice (these are invoices to pay).
    return await _views([{**NO_ATTEMPT, **row} for row in rows], account_id)


async def _views(
    rows: Sequence[Any], account_id: int | None, holds: dict[int, Hold] | None = None
) -> list[InvoiceView]:
    """Rows as views (as `account_id` sees them), with the online payment holding any of them
    (`holds`, when the rows' statement read them, else read here)."""
    if holds is None:
        holds = await holds_for(int(row["id"]) for row in rows if row["status"] == TO_PAY)
    on = today()
    return [_view(row, on, account_id, holds.get(int(row["id"]))) for row in rows]


def is_payable(commune: CommuneContext, invoice: InvoiceView) -> bool:
    """Whether online payment may be offered: no `invoice_is_payable` implementation refused."""
    return commune.hooks.invoice_is_payable(commune=commune, invoice=invoice) is not False


async def actions_for(
    commune: CommuneContext, invoice: InvoiceView, account: SignedIn
) -> list[Any]:
    """The invoice's actions (`core.hookspecs.InvoiceAction`) from every enabled plugin, sorted;
    payment ones only if payable. (Not imported: the hookspecs module imports this one.)

    An implementation may return its actions or an awaitable of them (to read the database).
    """
    results: Sequence[Any] = commune.hooks.invoice_actions(
        commune=commune, invoice=invoice, account=account
    )
    groups = [await group if inspect.isawaitable(group) else group for group in results]
    actions = sorted(
        (action for group in groups if group for action in group),
        key=lambda action: action.order,
    )
    payable = is_payable(commune, invoice) and not any(a.blocks_payment for a in actions)
    return [a for a in actions if a.kind != "payment" or payable]


async def payability(
    commune: CommuneContext, invoice: InvoiceView, account: SignedIn
) -> tuple[bool, list[str]]:
    """Whether the invoice may be paid online now (a plugin offers it and nothing objects),
    and the notices that say why not (empty when the reason is its state)."""
    actions = await actions_for(commune, invoice, account)
    if any(a.kind == "payment" for a in actions):
        return True, []
    return False, [a.label for a in actions if a.blocks_payment and a.kind == "notice"]
