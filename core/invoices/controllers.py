"""Mes factures: three tabs (each a real URL), an invoice's detail, its PDF.

The tabs and the pagination answer htmx with the `invoice_list` block; the detail answers htmx
with the `invoice_detail` block when the list opens it in place. Without JavaScript every link
is a plain page. Anything the account may not see is 404, whatever the reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import File, Template

from core.accounts.dependencies import login_required, session_of
from core.accounts.sessions import signed_in
from core.communes.context import CommuneContext
from core.invoices import pdf, services
from core.invoices.services import PAID, TO_PAY, TREASURY, InvoiceList, InvoiceView
from core.payments.providers import provider_for_regie
from core.web.dependencies import provide_settings, record_refusal
from core.web.identity import SignedIn
from core.web.pages import page
from core.web.render import wants_fragment

logger = logging.getLogger(__name__)

LIST_TEMPLATE = "invoices/list.html"
DETAIL_TEMPLATE = "invoices/detail.html"
LIST_BLOCK = "invoice_list"
DETAIL_BLOCK = "invoice_detail"

# Tab status -> its path under the commune's root.
TAB_PATHS = {TO_PAY: "factures", PAID: "factures/reglees", TREASURY: "factures/tresorerie"}

MAX_ID = 2**31 - 1  # ids are PostgreSQL integers: a larger one cannot exist (nor be queried)
PAGINATION_LINKS = ("page-previous", "page-next")  # ids of the pagination links


def _page_number(request: Request) -> int:
    """`?page=N`; anything else is the first page (never an error for a hand-edited URL)."""
    raw = request.query_params.get("page", "")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


def tab_urls(commune: CommuneContext) -> dict[str, str]:
    return {status: commune.url(path) for status, path in TAB_PATHS.items()}


class InvoiceController(Controller):
    path = "/{slug:str}"

    # The tabs, the detail and the PDF find their parent themselves, not through the `account`
    # dependency: on PostgreSQL the session comes with the page's rows, in one statement
    # (`services.list_invoices_signed_in`, `get_invoice_signed_in`).
    @get("/factures", name="invoices")
    async def to_pay(self, request: Request, commune: CommuneContext) -> Template:
        return await _list_page(request, commune, TO_PAY)

    @get("/factures/reglees", name="invoices_paid")
    async def paid(self, request: Request, commune: CommuneContext) -> Template:
        return await _list_page(request, commune, PAID)

    @get("/factures/tresorerie", name="invoices_treasury")
    async def treasury(self, request: Request, commune: CommuneContext) -> Template:
        return await _list_page(request, commune, TREASURY)

    @get("/factures/{invoice_id:int}", name="invoice")
    async def detail(self, request: Request, commune: CommuneContext, invoice_id: int) -> Template:
        account, invoice = await _signed_in_invoice(request, commune, invoice_id)
        return page(
            request,
            commune,
            DETAIL_TEMPLATE,
            account=account,
            block=DETAIL_BLOCK,
            current_path=commune.url("factures"),
            fragment=wants_fragment(request, DETAIL_BLOCK),
            invoice=invoice,
            actions=await services.actions_for(commune, invoice, account),
            tab_urls=tab_urls(commune),
        )

    @get("/factures/{invoice_id:int}/pdf", name="invoice_pdf")
    async def pdf(
        self, request: Request, commune: CommuneContext, invoice_id: int
    ) -> Response[Any]:
        _, invoice = await _signed_in_invoice(request, commune, invoice_id)
        headers = pdf.download_headers(pdf.download_name(invoice.number))
        path = pdf.imported_pdf(provide_settings(request).data_dir, invoice.pdf_path)
        if path is not None:
            return File(path=path, media_type=pdf.MEDIA_TYPE, headers=headers)
        if invoice.pdf_path:
            logger.warning(
                "invoice %s: PDF %r not found, generating one", invoice.id, invoice.pdf_path
            )
        content = await asyncio.to_thread(pdf.generate_pdf, commune.name, invoice)
        return Response(content=content, media_type=pdf.MEDIA_TYPE, headers=headers)


async def _signed_in_invoice(
    request: Request, commune: CommuneContext, invoice_id: int
) -> tuple[SignedIn, InvoiceView]:
    """The parent signed in and the invoice `invoice_id` if they may see it, else a 404 (the
    session checked first: no open session is the login page, whatever the id)."""
    secret, idle_timeout = session_of(request)
    if not 0 < invoice_id <= MAX_ID:
        if await signed_in(secret, commune.id, idle_timeout) is None:
            raise login_required(request, commune)
        raise NotFoundException()
    found = await services.get_invoice_signed_in(secret, commune.id, idle_timeout, invoice_id)
    if found is None:
        raise login_required(request, commune)
    account, invoice = found
    return account, await _visible_or_404(request, account, invoice_id, invoice)


async def _visible_or_404(
    request: Request, account: SignedIn, invoice_id: int, invoice: InvoiceView | None
) -> InvoiceView:
    if invoice is None:
        # Asked only on this 404: is it someone else's invoice (security log) or none at all?
        if await services.invoice_exists(invoice_id):
            record_refusal(request, "foreign_object", account=account.account_id)
        raise NotFoundException()
    return invoice


def _any_payable_online(commune: CommuneContext, listing: InvoiceList) -> bool:
    """Whether "Payer plusieurs factures" leads anywhere: an invoice of the page has its
    "Payer la facture" (`core.invoices.default_actions`: a payment service for its régie and
    no plugin refusing it: direct debit, hold, suspension). Sync and from the rows read: a
    suspension by the back office (its own statement) is said by the selection page."""
    if not commune.config.payment_basket:
        return False
    return any(
        services.is_payable(commune, invoice)
        and provider_for_regie(commune, invoice.regie_code) is not None
        for invoice in listing.rows
    )


async def _list_page(request: Request, commune: CommuneContext, status: str) -> Template:
    secret, idle_timeout = session_of(request)
    found = await services.list_invoices_signed_in(
        secret, commune.id, idle_timeout, status, _page_number(request)
    )
    if found is None:
        raise login_required(request, commune)
    account, listing = found
    urls = tab_urls(commune)
    fragment = wants_fragment(request, LIST_BLOCK)
    return page(
        request,
        commune,
        LIST_TEMPLATE,
        account=account,
        block=LIST_BLOCK,
        current_path=commune.url("factures"),
        fragment=fragment,
        # After "Page suivante"/"Page précédente", focus moves to the new page's table (its
        # caption says which page); after a tab, it stays on the tab (same id, kept by htmx).
        focus_table=fragment and request.headers.get("hx-trigger") in PAGINATION_LINKS,
        listing=listing,
        # Direct-debit invoices are marked where the prélèvement plugin keeps them from online
        # payment (elsewhere they are paid like any other).
        direct_debit=commune.enabled("prelevement"),
        pay_several=status == TO_PAY and _any_payable_online(commune, listing),
        tab=status,
        tab_urls=urls,
        list_url=urls[status],
    )
