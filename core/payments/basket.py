"""The basket: which invoices a parent may pay together, and why not.

A selection is payable when every invoice is the account's own, payable now (no plugin objects:
not a direct debit, not held by another payment, not suspended...), all of one régie, which a
payment service pays, for a total between 1,00 € and that service's limit; several invoices
only where the commune has `payment_basket`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.communes.context import CommuneContext
from core.hookspecs import PaymentProvider
from core.i18n import t
from core.invoices import services as invoices
from core.invoices.services import InvoiceView
from core.payments.providers import provider_for_regie
from core.web.identity import SignedIn

MIN_AMOUNT_CENTS = 100  # the services refuse less than 1,00 €
MAX_BASKET_INVOICES = 30


class BasketError(Exception):
    """A selection that cannot be paid; the message is French, for the parent."""


@dataclass(frozen=True)
class PaymentPlan:
    """A checked selection: invoices of one régie, payable now, and the service paying them."""

    regie_code: str
    regie_name: str
    numcli: str
    provider: PaymentProvider
    invoices: list[InvoiceView]

    @property
    def amount_cents(self) -> int:
        return sum(invoice.remaining_cents for invoice in self.invoices)

    @property
    def references(self) -> str:
        return ", ".join(invoice.number for invoice in self.invoices)


def parse_invoice_ids(values: Sequence[str]) -> list[int]:
    """The `facture` parameters as ids, in order, without duplicates; junk is ignored."""
    ids: list[int] = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if part.isdigit() and len(part) < 10 and int(part) not in ids:
                ids.append(int(part))
    return ids


async def plan_payment(
    commune: CommuneContext, account: SignedIn, invoice_ids: Sequence[int]
) -> PaymentPlan:
    """Check a selection; raise BasketError with the reason a parent can act on."""
    if not invoice_ids:
        raise BasketError(t("payments.basket.empty"))
    if len(invoice_ids) > 1 and not commune.config.payment_basket:
        raise BasketError(t("payments.basket.one_at_a_time"))
    if len(invoice_ids) > MAX_BASKET_INVOICES:
        raise BasketError(t("payments.basket.too_many", max=MAX_BASKET_INVOICES))
    found = await invoices.get_invoices(commune.id, account.account_id, invoice_ids)
    if len(found) != len(invoice_ids):
        raise BasketError(t("payments.basket.unknown_invoice"))
    for invoice in found:
        payable, reasons = await invoices.payability(commune, invoice, account)
        if not payable:
            why = " ".join(reasons) or t(f"payments.basket.not_payable_{invoice.status}")
            raise BasketError(t("payments.basket.not_payable", number=invoice.number, why=why))
    regies = {invoice.regie_code for invoice in found}
    if len(regies) > 1:
        raise BasketError(t("payments.basket.one_regie"))
    regie_code = regies.pop()
    provider = provider_for_regie(commune, regie_code)
    regie = commune.config.regie(regie_code)
    if provider is None or regie is None:  # payability() already said no; kept for typing
        raise BasketError(t("payments.basket.unavailable"))
    plan = PaymentPlan(
        regie_code=regie_code,
        regie_name=regie.name,
        numcli=regie.client_number,
        provider=provider,
        invoices=found,
    )
    if plan.amount_cents < MIN_AMOUNT_CENTS:
        raise BasketError(t("payments.basket.too_small"))
    if plan.amount_cents > provider.max_amount_cents:
        raise BasketError(t("payments.basket.too_large"))
    return plan
