"""Télécharger mes données: everything the portal keeps about an account, as `ExportSection`s
(`core.hookspecs`) that the page shows and the JSON file holds; plugins add theirs through the
`account_data_export` hook.

Never exported: password, token and session hashes, e-mail bodies (their links), the payment
service's raw answers. Lists are read newest first; the page asks for `PAGE_ROWS` of each (and
says when there are more), the file reads every row in batches of `BATCH` (keyset pages).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from piccolo.columns import Column
from piccolo.query import Select

from core.accounts.tables import Account, AccountPayer, PayerEmail, WebSession
from core.alert_addresses.tables import AlertAddress
from core.communes.context import CommuneContext
from core.contact.tables import ContactMessage
from core.db import as_aware, as_date
from core.hookspecs import ExportColumn, ExportSection
from core.i18n import t
from core.invoices.services import visible_to
from core.invoices.tables import Invoice
from core.mail.tables import OutboundEmail
from core.payments.tables import PaymentAttempt

PAGE_ROWS = 100  # rows of each list on the page; the file has them all
BATCH = 500  # rows per query when the file reads a whole list


def _column(key: str, kind: Any = "text", label: str | None = None) -> ExportColumn:
    return ExportColumn(key=key, label=t(f"account_rights.field.{label or key}"), kind=kind)


def _section(
    key: str, columns: Sequence[ExportColumn], rows: Sequence[dict], **flags: Any
) -> ExportSection:
    """A core section: dates read back the same from either engine (SQLite gives text)."""
    typed = [{c.key: _typed(row.get(c.key), c.kind) for c in columns} for row in rows]
    return ExportSection(
        key=key, title=t(f"account_rights.section.{key}"), columns=columns, rows=typed, **flags
    )


def _typed(value: Any, kind: str) -> Any:
    if kind == "date":
        return as_date(value)
    if kind == "datetime":
        return as_aware(value)
    return value


async def collect(
    commune: CommuneContext, account_id: int, *, limit: int | None = PAGE_ROWS
) -> list[ExportSection]:
    """The account's data: the core's sections, then the plugins'. `limit`: rows per list (the
    page), or None for every row (the file)."""
    account = await _identity(account_id)
    recipients = [account.rows[0]["email"]] if account.rows else []
    alerts = await _alert_addresses(account_id)
    recipients += [row["email"] for row in alerts.rows]
    payers, payer_ids = await _payers(commune.id, account_id)
    sections = [
        account,
        payers,
        await _payer_addresses(commune.id, account_id),
        alerts,
        await _invoices(commune.id, account_id, payer_ids, limit),
        await _payments(commune.id, account_id, limit),
        await _contact_messages(commune.id, account_id, limit),
        await _sessions(account_id),
        await _emails(commune.id, recipients, limit),
    ]
    for pending in commune.hooks.all_plugins.account_data_export(
        commune=commune, account_id=account_id
    ):
        sections.extend(await pending)
    return sections


def as_json(
    commune: CommuneContext, sections: Sequence[ExportSection], moment: dt.datetime
) -> bytes:
    """The file: the commune, the moment, then each section by its key (one object for a
    single record, else a list); dates in ISO 8601, money in cents."""
    document: dict[str, Any] = {
        "portail": {"commune": commune.name, "slug": commune.slug, "exported_at": moment},
    }
    for section in sections:
        rows = [{c.key: row.get(c.key) for c in section.columns} for row in section.rows]
        document[section.key] = (rows[0] if rows else None) if section.single else rows
    return json.dumps(document, ensure_ascii=False, indent=2, default=_iso).encode()


def _iso(value: object) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not exportable")


async def _rows(
    select: Callable[[], Select], id_column: Column, limit: int | None
) -> tuple[list[dict[str, Any]], bool]:
    """Newest first: `limit` rows and whether there are more, or (None) every row, read in
    batches of `BATCH` (each after the last id read: no OFFSET)."""
    if limit is not None:
        rows = await select().order_by(id_column, ascending=False).limit(limit + 1)
        return rows[:limit], len(rows) > limit
    every: list[dict[str, Any]] = []
    while True:
        query = select()
        if every:
            query = query.where(id_column < every[-1]["id"])
        batch = await query.order_by(id_column, ascending=False).limit(BATCH)
        every.extend(batch)
        if len(batch) < BATCH:
            return every, False


async def _identity(account_id: int) -> ExportSection:
    row = (
        await Account.select(
            Account.email,
            Account.state,
            Account.created_at,
            Account.activated_at,
            Account.last_login_at,
        )
        .where(Account.id == account_id)
        .first()
    )
    rows = [{**row, "state": t(f"account_rights.account_state.{row['state']}")}] if row else []
    columns = [
        _column("email"),
        _column("state"),
        _column("created_at", "datetime"),
        _column("activated_at", "datetime"),
        _column("last_login_at", "datetime"),
    ]
    return _section("account", columns, rows, single=True)


async def _payers(commune_id: int, account_id: int) -> tuple[ExportSection, list[int]]:
    """The section, and the payers' ids (for the invoices' query)."""
    rows = (
        await AccountPayer.select(
            AccountPayer.payer.id.as_alias("payer_id"),
            AccountPayer.payer.name.as_alias("payer_name"),
            AccountPayer.payer.external_ref.as_alias("payer_ref"),
        )
        .where((AccountPayer.account == account_id) & (AccountPayer.payer.commune == commune_id))
        .order_by(AccountPayer.payer.name)
    )
    columns = [_column("payer_name"), _column("payer_ref")]
    return _section("payers", columns, rows), [row["payer_id"] for row in rows]


async def _payer_addresses(commune_id: int, account_id: int) -> ExportSection:
    """The addresses the billing software gave for the account's payers (the activation key)."""
    linked = AccountPayer.select(AccountPayer.payer).where(AccountPayer.account == account_id)
    rows = (
        await PayerEmail.select(
            PayerEmail.payer.name.as_alias("payer_name"),
            PayerEmail.payer.external_ref.as_alias("payer_ref"),
            PayerEmail.email,
        )
        .where((PayerEmail.commune == commune_id) & PayerEmail.payer.is_in(linked))
        .order_by(PayerEmail.payer.name)
        .order_by(PayerEmail.email)
    )
    columns = [_column("payer_name"), _column("payer_ref"), _column("email")]
    return _section("payer_addresses", columns, rows)


async def _alert_addresses(account_id: int) -> ExportSection:
    rows = (
        await AlertAddress.select(
            AlertAddress.email, AlertAddress.created_at, AlertAddress.confirmed_at
        )
        .where(AlertAddress.account == account_id)
        .order_by(AlertAddress.id)
    )
    rows = [{**row, "confirmed": row["confirmed_at"] is not None} for row in rows]
    columns = [
        _column("email"),
        _column("confirmed", "yes_no"),
        _column("created_at", "datetime", label="added_at"),
        _column("confirmed_at", "datetime"),
    ]
    return _section("alert_addresses", columns, rows)


async def _invoices(
    commune_id: int, account_id: int, payer_ids: list[int], limit: int | None
) -> ExportSection:
    # The scope, narrowed to the same payers given as a list: SQLite then reads the invoices
    # through the payer index instead of every invoice of the commune.
    scope = visible_to(commune_id, account_id) & Invoice.payer.is_in(payer_ids or [0])

    def select() -> Select:
        return Invoice.select(
            Invoice.id,
            Invoice.number,
            Invoice.regie.name.as_alias("regie"),
            Invoice.payer.name.as_alias("payer_name"),
            Invoice.object,
            Invoice.issued_on,
            Invoice.due_on,
            Invoice.amount_cents,
            Invoice.paid_cents,
            Invoice.status,
            Invoice.paid_on,
            Invoice.payment_mode,
            Invoice.direct_debit,
        ).where(scope)

    rows, more = await _rows(select, Invoice.id, limit)
    rows = [{**row, "status": t(f"invoices.status.{row['status']}")} for row in rows]
    columns = [
        _column("number"),
        _column("regie"),
        _column("payer_name"),
        _column("object"),
        _column("issued_on", "date"),
        _column("due_on", "date"),
        _column("amount_cents", "money"),
        _column("paid_cents", "money"),
        _column("status"),
        _column("paid_on", "date"),
        _column("payment_mode"),
        _column("direct_debit", "yes_no"),
    ]
    return _section("invoices", columns, rows, truncated=more)


async def _payments(commune_id: int, account_id: int, limit: int | None) -> ExportSection:
    """The account's online payment attempts; never the service's raw answer (`detail`)."""

    def select() -> Select:
        return PaymentAttempt.select(
            PaymentAttempt.id,
            PaymentAttempt.created_at.as_alias("started_at"),
            PaymentAttempt.regie.name.as_alias("regie"),
            PaymentAttempt.amount_cents,
            PaymentAttempt.state,
            PaymentAttempt.provider,
            PaymentAttempt.provider_reference,
            PaymentAttempt.refdet,
            PaymentAttempt.paid_at,
            PaymentAttempt.authorisation_number,
            PaymentAttempt.email.as_alias("receipt_email"),
        ).where((PaymentAttempt.commune == commune_id) & (PaymentAttempt.account == account_id))

    rows, more = await _rows(select, PaymentAttempt.id, limit)
    rows = [{**row, "state": t(f"payments.state.{row['state']}")} for row in rows]
    columns = [
        _column("started_at", "datetime"),
        _column("regie"),
        _column("amount_cents", "money"),
        _column("state", label="status"),
        _column("provider"),
        _column("provider_reference"),
        _column("refdet"),
        _column("paid_at", "datetime"),
        _column("authorisation_number"),
        _column("receipt_email"),
    ]
    return _section("payments", columns, rows, truncated=more)


async def _contact_messages(commune_id: int, account_id: int, limit: int | None) -> ExportSection:
    def select() -> Select:
        return ContactMessage.select(
            ContactMessage.id,
            ContactMessage.created_at.as_alias("sent_at"),
            ContactMessage.name,
            ContactMessage.email,
            ContactMessage.body,
            ContactMessage.handled_at,
        ).where((ContactMessage.commune == commune_id) & (ContactMessage.account == account_id))

    rows, more = await _rows(select, ContactMessage.id, limit)
    columns = [
        _column("sent_at", "datetime"),
        _column("name"),
        _column("email"),
        _column("body"),
        _column("handled_at", "datetime"),
    ]
    return _section("contact_messages", columns, rows, truncated=more)


async def _sessions(account_id: int) -> ExportSection:
    """The account's open sessions: dates only (their ids are secrets, stored hashed)."""
    rows = (
        await WebSession.select(
            WebSession.created_at,
            WebSession.last_seen_at,
            WebSession.expires_at,
            WebSession.persistent,
            WebSession.user_agent,
        )
        .where(WebSession.account == account_id)
        .order_by(WebSession.id, ascending=False)
    )
    columns = [
        _column("created_at", "datetime", label="started_at"),
        _column("last_seen_at", "datetime"),
        _column("expires_at", "datetime"),
        _column("persistent", "yes_no"),
        _column("user_agent", label="browser"),
    ]
    return _section("sessions", columns, rows)


async def _emails(commune_id: int, recipients: list[str], limit: int | None) -> ExportSection:
    """What the outbox still holds of the messages sent to the account's addresses: recipient,
    subject, dates; never a body (links in it are secrets)."""

    def select() -> Select:
        return OutboundEmail.select(
            OutboundEmail.id,
            OutboundEmail.created_at,
            OutboundEmail.sent_at,
            OutboundEmail.recipient,
            OutboundEmail.subject,
            OutboundEmail.status,
        ).where(
            (OutboundEmail.commune == commune_id)
            & OutboundEmail.recipient.is_in(recipients or [""])
        )

    rows, more = await _rows(select, OutboundEmail.id, limit)
    rows = [{**row, "status": t(f"account_rights.email_status.{row['status']}")} for row in rows]
    columns = [
        _column("created_at", "datetime", label="queued_at"),
        _column("sent_at", "datetime"),
        _column("recipient"),
        _column("subject"),
        _column("status"),
    ]
    return _section("emails", columns, rows, truncated=more)
