"""An invoice's PDF: the file the commune imported, or one generated from the invoice's data.

Imported files live under the data directory (`PORTAIL_DATA_DIR`), at the invoice's `pdf_path`;
a path leading outside it is ignored. The generated PDF uses fpdf2's core fonts (Helvetica), so
no font file is needed: its text is encoded in windows-1252 (WinAnsiEncoding), which has `€`,
`’` and every French letter. The content stream is left uncompressed: the text stays readable by
any tool (and by the tests), and such a page weighs a few kilobytes.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path

from core.i18n import t
from core.invoices.services import InvoiceView, today
from core.invoices.tables import TREASURY
from core.web.formatting import date, money

PDF_ENCODING = "windows-1252"
MEDIA_TYPE = "application/pdf"


def download_name(number: str) -> str:
    """`facture-<number>.pdf`, with anything but letters, digits, `.`, `_` and `-` as `-`."""
    return (
        "facture-" + (re.sub(r"[^A-Za-z0-9._-]", "-", number).strip(".-") or "sans-numero") + ".pdf"
    )


def download_headers(filename: str) -> dict[str, str]:
    """Headers of a private PDF download saved as `filename` (never cached, never sniffed)."""
    return {
        "cache-control": "private, no-store",
        "x-content-type-options": "nosniff",
        "content-disposition": f'attachment; filename="{filename}"',
    }


def imported_pdf(data_dir: str | Path, pdf_path: str) -> Path | None:
    """The imported file of an invoice, if there is one inside `data_dir`."""
    if not pdf_path:
        return None
    base = Path(data_dir).resolve()
    candidate = (base / pdf_path).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


def _text(value: str) -> str:
    """`value` in windows-1252: Babel's (narrow) no-break spaces become plain spaces, accents
    that the encoding lacks are dropped (ő -> o), anything else becomes `?`."""
    value = value.replace("\u202f", " ").replace("\u00a0", " ")
    out = []
    for char in value:
        try:
            char.encode(PDF_ENCODING)
            out.append(char)
        except UnicodeEncodeError:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
            try:
                base.encode(PDF_ENCODING)
                out.append(base or "?")
            except UnicodeEncodeError:
                out.append("?")
    return "".join(out)


def _rows(invoice: InvoiceView) -> list[tuple[str, str]]:
    rows = [
        ("number", invoice.number),
        ("issued_on", date(invoice.issued_on)),
        ("due_on", date(invoice.due_on)),
        ("object", invoice.object),
        ("regie", invoice.regie_name),
        ("payer", invoice.payer_name),
        ("payment_reference", invoice.payment_reference),
        ("amount", money(invoice.amount_cents)),
        ("paid", money(invoice.paid_cents)),
        ("remaining", money(invoice.remaining_cents)),
        ("status", t(f"invoices.status.{invoice.status}")),
        ("paid_on", date(invoice.paid_on)),
        ("payment_mode", invoice.payment_mode_label),
        ("authorisation_number", invoice.authorisation_number),
    ]
    if invoice.direct_debit:
        rows.append(("direct_debit", date(invoice.debit_on)))
    return [(t(f"invoices.pdf.{key}"), value) for key, value in rows if value]


def generate_pdf(commune_name: str, invoice: InvoiceView, *, on: dt.date | None = None) -> bytes:
    """A one-page A4 PDF of `invoice`, for communes that supplied no file."""
    return key_value_pdf(
        author=commune_name,
        title=t("invoices.pdf.title", number=invoice.number),
        rows=_rows(invoice),
        paragraphs=[t("invoices.pdf.treasury")] if invoice.status == TREASURY else [],
        footer=t("invoices.pdf.generated", date=date(on or today())),
    )


def key_value_pdf(
    *, author: str, title: str, rows: list[tuple[str, str]], paragraphs: list[str], footer: str
) -> bytes:
    """An A4 document: the commune, a title, labelled values, paragraphs and a footer line."""
    # Imported here: fpdf (with fontTools) adds about 20 MB to a web process that may never
    # generate a PDF (most communes supply their own).
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = PDF_ENCODING
    pdf.compress = False
    pdf.set_title(_text(title))
    pdf.set_author(_text(author))
    pdf.set_lang("fr")
    pdf.set_creator("Portail des factures")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()

    pdf.set_font("Helvetica", style="B", size=16)
    pdf.multi_cell(0, 8, _text(author), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 6, _text(t("invoices.pdf.service")), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.multi_cell(0, 8, _text(title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    label_width = 55
    value_width = pdf.epw - label_width
    for label, value in rows:
        pdf.set_font("Helvetica", style="B", size=11)
        top = pdf.get_y()
        pdf.multi_cell(label_width, 7, _text(label), new_x="RIGHT", new_y="TOP")
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(value_width, 7, _text(value), new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(max(pdf.get_y(), top + 7))

    for paragraph in paragraphs:
        pdf.ln(6)
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, _text(paragraph), new_x="LMARGIN", new_y="NEXT")

    pdf.ln(10)
    pdf.set_font("Helvetica", style="I", size=9)
    pdf.multi_cell(0, 5, _text(footer), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
