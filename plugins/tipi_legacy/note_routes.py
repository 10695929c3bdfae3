"""`/<commune>/tipi/factures/<id>/note`: the confirmation step (GET) and the change (POST) of
the parent's personal note "j'ai réglé cette facture" (see `notes`). 404 where TIPI is off and
for an invoice the account may not see."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from core.communes.context import CommuneContext
from core.invoices.controllers import MAX_ID
from core.invoices.services import InvoiceView, get_invoice
from core.web.dependencies import commune_with
from core.web.identity import SignedIn
from core.web.pages import page
from plugins.tipi_legacy import notes

TEMPLATE = "tipi_legacy/note.html"
# `plugins.tipi_legacy.PLUGIN_NAME`, not imported: that package imports this module.
PLUGIN_NAME = "tipi_legacy"


async def _invoice(commune: CommuneContext, account: SignedIn, invoice_id: int) -> InvoiceView:
    if not 0 < invoice_id <= MAX_ID:
        raise NotFoundException()
    invoice = await get_invoice(commune.id, account.account_id, invoice_id)
    if invoice is None:
        raise NotFoundException()
    return invoice


def _to_invoice(commune: CommuneContext, invoice_id: int) -> Redirect:
    return Redirect(path=commune.url(f"factures/{invoice_id}"), status_code=303)


class TipiNoteController(Controller):
    path = "/{slug:str}/tipi/factures"
    dependencies = {"commune": commune_with(PLUGIN_NAME)}  # noqa: RUF012 (Litestar's API)

    @get("/{invoice_id:int}/note", name="tipi_note_confirm")
    async def confirm_page(
        self, request: Request, commune: CommuneContext, account: SignedIn, invoice_id: int
    ) -> Response[Any]:
        invoice = await _invoice(commune, account, invoice_id)
        marked_on = await notes.marked_on(account.account_id, invoice.id)
        if marked_on is None and not notes.may_mark(invoice):
            return _to_invoice(commune, invoice.id)  # paid meanwhile: nothing to note
        return page(
            request,
            commune,
            TEMPLATE,
            account=account,
            current_path=commune.url("factures"),
            invoice=invoice,
            marked_on=marked_on,
            form_url=notes.note_url(commune, invoice.id),
        )

    @post("/{invoice_id:int}/note", name="tipi_note_change")
    async def change(
        self, request: Request, commune: CommuneContext, account: SignedIn, invoice_id: int
    ) -> Response[Any]:
        """Apply the state the form asks for ("1": noted as paid, "0": not), not a toggle, so a
        double submission is harmless. Removing a note is always allowed."""
        invoice = await _invoice(commune, account, invoice_id)
        form = await request.form()
        choice = form.get("paid")
        if choice not in {"0", "1"}:
            return Redirect(path=notes.note_url(commune, invoice.id), status_code=303)
        if choice == "0":
            await notes.unmark(account.account_id, invoice.id)
        elif notes.may_mark(invoice):
            await notes.mark(account.account_id, invoice.id)
        return _to_invoice(commune, invoice.id)
