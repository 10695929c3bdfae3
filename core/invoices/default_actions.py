"""The core's invoice actions, written as an always-on plugin (`core-invoices`).

- "Télécharger le PDF", on every invoice;
- "Le paiement a été temporairement suspendu", on an invoice still to pay whose commune or régie
  has `payment_suspended = true`, or the agent's text where the back office suspended online
  payment (`core.backoffice.suspension`, read once per request); it blocks online payment;
- "Payer la facture" (kind "payment"), when a payment service pays the invoice's régie; it
  leads to the selection of invoices where the commune has `payment_basket = true`;
- the notice of an online payment holding the invoice (in progress, declared, in review); it
  blocks online payment;
- `invoice_is_payable`: no online payment for an invoice that is not "à régler", has nothing
  left to pay, whose payment is suspended, or that an online payment holds.
"""

from __future__ import annotations

from core.backoffice.suspension import cached_suspensions, request_suspensions, suspension_text
from core.communes.context import CommuneContext
from core.hookspecs import InvoiceAction, hookimpl
from core.i18n import t
from core.invoices.services import InvoiceView
from core.invoices.tables import TO_PAY
from core.payments.holds import Hold
from core.payments.providers import provider_for_regie
from core.web.formatting import datetime

NOTICE_ORDER = 10
PDF_ORDER = 20
PAY_ORDER = 30


def payment_suspended(
    commune: CommuneContext,
    invoice: InvoiceView,
    suspensions: dict[str | None, str] | None = None,
) -> str | None:
    """The text parents read when online payment of `invoice` is suspended, else None.

    The back office's suspension (`suspensions`, régie code or None -> text) comes first, with
    its text; then the TOML's `payment_suspended` (commune or régie), with the default text.
    """
    if suspensions:
        text = suspension_text(suspensions, invoice.regie_code)
        if text is not None:
            return text
    if commune.config.payment_suspended:
        return t("invoices.notice.suspended")
    regie = commune.config.regie(invoice.regie_code)
    if regie is not None and regie.payment_suspended:
        return t("invoices.notice.suspended")
    return None


def _to_pay(invoice: InvoiceView) -> bool:
    return invoice.status == TO_PAY and invoice.remaining_cents > 0


@hookimpl
async def invoice_actions(commune: CommuneContext, invoice: InvoiceView) -> list[InvoiceAction]:
    # Only an invoice still to pay asks the database (once per request, whatever the count).
    suspensions = await request_suspensions(commune.id) if _to_pay(invoice) else None
    actions = [
        InvoiceAction(
            label=t("invoices.action.pdf"),
            url=commune.url(f"factures/{invoice.id}/pdf"),
            kind="link",
            order=PDF_ORDER,
        )
    ]
    suspended = payment_suspended(commune, invoice, suspensions) if _to_pay(invoice) else None
    if suspended is not None:
        actions.append(
            InvoiceAction(
                label=suspended,
                kind="notice",
                order=NOTICE_ORDER,
                blocks_payment=True,
            )
        )
    if _to_pay(invoice) and invoice.payment_hold is not None:
        actions.append(
            InvoiceAction(
                label=hold_notice(invoice.payment_hold),
                kind="notice",
                order=NOTICE_ORDER,
                blocks_payment=True,
            )
        )
    if _to_pay(invoice) and provider_for_regie(commune, invoice.regie_code) is not None:
        target = "paiement/selection" if commune.config.payment_basket else "paiement"
        actions.append(
            InvoiceAction(
                label=t("invoices.action.pay"),
                url=commune.url(f"{target}?facture={invoice.id}"),
                kind="payment",
                order=PAY_ORDER,
            )
        )
    return actions


def hold_notice(hold: Hold) -> str:
    if hold.in_progress:
        return t("invoices.notice.payment_in_progress", until=datetime(hold.until))
    return t(f"invoices.notice.payment_{hold.state}")


@hookimpl
def invoice_is_payable(commune: CommuneContext, invoice: InvoiceView) -> bool | None:
    # Sync hook: it sees the suspensions `invoice_actions` read in this request (always first,
    # see `core.invoices.services.actions_for`), whose notice blocks payment anyway.
    if not _to_pay(invoice):
        return False
    if payment_suspended(commune, invoice, cached_suspensions(commune.id)) is not None:
        return False
    if invoice.payment_hold is not None:
        return False
    return None  # no objection: the other plugins decide
