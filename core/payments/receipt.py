"""The receipt of a payment, as a PDF (the same facts as the receipt page and e-mail)."""

from __future__ import annotations

from core.config import CommuneConfig
from core.i18n import t
from core.invoices.pdf import key_value_pdf
from core.payments.attempts import AttemptView
from core.web.formatting import datetime, money


def receipt_rows(commune: CommuneConfig, attempt: AttemptView) -> list[tuple[str, str]]:
    mode = t("payments.mode.direct_debit" if attempt.by_direct_debit else "payments.mode.card")
    rows = [
        (t("payments.receipt.commune"), commune.name),
        (t("payments.receipt.regie"), attempt.regie_name),
        (t("payments.receipt.numcli"), attempt.numcli),
    ]
    rows += [
        (t("payments.receipt.invoice", number=number), money(amount))
        for _, number, amount in attempt.invoices
    ]
    rows += [
        (t("payments.receipt.amount"), money(attempt.amount_cents)),
        (t("payments.receipt.paid_at"), datetime(attempt.paid_at)),
        (t("payments.receipt.mode"), mode),
        (t("payments.receipt.refdet"), attempt.refdet),
        (t("payments.receipt.authorisation_number"), attempt.authorisation_number),
    ]
    return [(label, value) for label, value in rows if value]


def receipt_pdf(commune: CommuneConfig, attempt: AttemptView) -> bytes:
    return key_value_pdf(
        author=commune.name,
        title=t("payments.receipt.title"),
        rows=receipt_rows(commune, attempt),
        paragraphs=[t("payments.receipt.note")],
        footer=t("payments.receipt.footer", email=attempt.email),
    )
