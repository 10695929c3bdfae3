"""Prélèvement automatique: invoices paid by automatic direct debit are shown with their debit
date and never offered for online payment.

- `invoice_actions`: the notice "Ma facture est en prélèvement automatique", with the debit date,
  on an invoice still to pay by direct debit; it blocks online payment.
- `invoice_is_payable`: False for every direct-debit invoice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from core.hookspecs import InvoiceAction, hookimpl
from core.i18n import t
from core.invoices.tables import TO_PAY
from core.web.formatting import date

if TYPE_CHECKING:
    from core.invoices.services import InvoiceView

PLUGIN_NAME = "prelevement"


@hookimpl
def register_catalogues() -> list[Path]:
    return [Path(__file__).resolve().parent / "locale" / "fr"]


class PrelevementSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, PrelevementSettings)


@hookimpl
def invoice_actions(invoice: InvoiceView) -> list[InvoiceAction]:
    if not invoice.direct_debit or invoice.status != TO_PAY:
        return []
    label = (
        t("prelevement.notice_on", date=date(invoice.debit_on))
        if invoice.debit_on
        else t("prelevement.notice")
    )
    return [InvoiceAction(label=label, kind="notice", order=10, blocks_payment=True)]


@hookimpl
def invoice_is_payable(invoice: InvoiceView) -> bool | None:
    """A direct-debit invoice is taken by the commune: never offered for online payment."""
    return False if invoice.direct_debit else None
