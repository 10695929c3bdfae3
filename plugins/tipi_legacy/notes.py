"""The personal note "I have paid this invoice" of TIPI communes (seed: "Si le bouton apparaît,
je peux indiquer que j'ai réglé ma facture en cliquant dessus").

TIPI's return is not signed, so the portal cannot know that an invoice was paid. A parent may
note it for herself, and undo it. The note is information only, never an accounting state: the
invoice stays "à régler" (same tab, same amounts, still payable online) until the commune's next
import says it is paid. Notes live in the plugin's table `invoice_note`.

- `invoice_actions`: the body of the plugin's hook: on an invoice "à régler" that is not paid by
  direct debit, the notice of the note (if any) and the link to mark or unmark it;
- `marked_on`, `mark`, `unmark`: the note's queries, for the confirmation page and its form;
- `export_section`, `forget`: the notes in the parent's data export, and gone with the account.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from core.clock import now
from core.db import as_date, transaction
from core.hookspecs import ExportColumn, ExportSection, InvoiceAction
from core.i18n import t
from core.invoices.services import today
from core.invoices.tables import TO_PAY
from core.web.formatting import date
from plugins.tipi_legacy.tables import InvoiceNote

if TYPE_CHECKING:
    from core.communes.context import CommuneContext
    from core.invoices.services import InvoiceView
    from core.web.identity import SignedIn

NOTICE_ORDER = 15  # after the core's notices (10), before the PDF (20)
LINK_ORDER = 40  # after "Payer la facture" (30): paying stays the main action


def may_mark(invoice: InvoiceView) -> bool:
    """Whether the note is offered: an invoice still "à régler", not taken by direct debit."""
    return invoice.status == TO_PAY and not invoice.direct_debit


def note_url(commune: CommuneContext, invoice_id: int) -> str:
    return commune.url(f"tipi/factures/{invoice_id}/note")


# --- The hook ----------------------------------------------------------------------------------


def actions(
    commune: CommuneContext, invoice: InvoiceView, marked_on: dt.date | None
) -> list[InvoiceAction]:
    """The notice of the note, if any, and the link to change it; never `blocks_payment`: the
    parent may well not have paid, and the commune's import is the only word on it."""
    if not may_mark(invoice):
        return []
    if marked_on is None:
        return [
            InvoiceAction(
                label=t("tipi_legacy.note.mark"),
                url=note_url(commune, invoice.id),
                kind="link",
                order=LINK_ORDER,
            )
        ]
    return [
        InvoiceAction(
            label=t("tipi_legacy.note.notice", date=date(marked_on)),
            kind="notice",
            order=NOTICE_ORDER,
        ),
        InvoiceAction(
            label=t("tipi_legacy.note.unmark"),
            url=note_url(commune, invoice.id),
            kind="link",
            order=LINK_ORDER,
        ),
    ]


async def invoice_actions(
    commune: CommuneContext, invoice: InvoiceView, account: SignedIn
) -> list[InvoiceAction]:
    """The body of the hook `invoice_actions`, awaited by the host."""
    if not may_mark(invoice):
        return []  # no query for invoices the note does not apply to
    return actions(commune, invoice, await marked_on(account.account_id, invoice.id))


# --- The note's queries ------------------------------------------------------------------------


async def marked_on(account_id: int, invoice_id: int) -> dt.date | None:
    """The day the account noted having paid the invoice, or None."""
    row = (
        await InvoiceNote.select(InvoiceNote.marked_paid_on)
        .where((InvoiceNote.account == account_id) & (InvoiceNote.invoice == invoice_id))
        .first()
    )
    return None if row is None else as_date(row["marked_paid_on"])


async def mark(account_id: int, invoice_id: int) -> bool:
    """Note that the account paid the invoice today; False if it was already noted.

    The caller checks that the account may see the invoice. Inserting "if absent" makes a double
    submission harmless and keeps the first date.
    """
    async with transaction():
        rows = await (
            InvoiceNote.insert(
                InvoiceNote(
                    account=account_id,
                    invoice=invoice_id,
                    marked_paid_on=today(),
                    created_at=now(),
                )
            )
            .on_conflict(target=(InvoiceNote.account, InvoiceNote.invoice), action="DO NOTHING")
            .returning(InvoiceNote.id)
        )
    return bool(rows)


async def unmark(account_id: int, invoice_id: int) -> bool:
    """Remove the account's note on the invoice; False if there was none."""
    async with transaction():
        rows = await (
            InvoiceNote.delete()
            .where((InvoiceNote.account == account_id) & (InvoiceNote.invoice == invoice_id))
            .returning(InvoiceNote.id)
        )
    return bool(rows)


# --- The parent's rights -------------------------------------------------------------------------


async def export_section(account_id: int) -> list[ExportSection]:
    """The account's notes in its data export (hook `account_data_export`); no section when
    there are none (most communes never had TIPI)."""
    rows = (
        await InvoiceNote.select(
            InvoiceNote.invoice.number.as_alias("invoice"), InvoiceNote.marked_paid_on
        )
        .where(InvoiceNote.account == account_id)
        .order_by(InvoiceNote.id)
    )
    if not rows:
        return []
    rows = [{**row, "marked_paid_on": as_date(row["marked_paid_on"])} for row in rows]
    columns = [
        ExportColumn("invoice", t("tipi_legacy.export.invoice")),
        ExportColumn("marked_paid_on", t("tipi_legacy.export.marked_paid_on"), "date"),
    ]
    return [ExportSection("tipi_legacy_notes", t("tipi_legacy.export.title"), columns, rows)]


async def forget(account_id: int) -> None:
    """Delete the account's notes (hook `account_deleted`, in the deletion's transaction)."""
    await InvoiceNote.delete().where(InvoiceNote.account == account_id)
