"""The core's invoice actions, written as an always-on plugin (`core-invoices`).

- "Télécharger le PDF", on every invoice;
- "Le paiement a été temporairement suspendu", on an invoice still to pay whose commune or régie
  has `payment_suspended = true`; it blocks online payment;
- "Payer la facture" (kind "payment"), when a payment service pays the invoice's régie; it
  leads to the selection of invoices where the commune has `payment_basket = true`;
- the notice of an online payment holding the invoice (in progress, declared, in review); it
  blocks online payment;
- `invoice_is_payable`: no online payment for an invoice that is not "à régler", has nothing
  left to pay, whose payment is suspended, or that an online payment holds.
"""

from __future__ import annotations

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


def payment_suspended(commune: CommuneContext, invoice: InvoiceView) -> bool:
    """Whether the commune, or the invoice's régie, has suspended online payment."""
    if commune.config.payment_suspended:
        return True
    regie = commune.config.regie(invoice.regie_code)
    return regie is not None and regie.payment_suspended


def _to_pay(invoice: InvoiceView) -> bool:
    return invoice.status == TO_PAY and invoice.remaining_cents > 0


@hookimpl
def invoice_actions(commune: CommuneContext, invoice: InvoiceView) -> list[InvoiceAction]:
    actions = [
        InvoiceAction(
            label=t("invoices.action.pdf"),
            url=commune.url(f"factures/{invoice.id}/pdf"),
            kind="link",
            order=PDF_ORDER,
        )
    ]
    if _to_pay(invoice) and payment_suspended(commune, invoice):
        actions.append(
            InvoiceAction(
                label=t("invoices.notice.suspended"),
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
    if not _to_pay(invoice) or payment_suspended(commune, invoice):
        return False
    if invoice.payment_hold is not None:
        return False
    return None  # no objection: the other plugins decide
