"""Small, valid one-page PDFs for the demo invoices, written by hand (no PDF library).

The demo imports `examples/factures-*.csv` with a directory of `<number>.pdf` files made here,
as a commune's billing software would provide them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path


def _pdf_text(text: str) -> bytes:
    """A PDF literal string in WinAnsiEncoding (French accents included)."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def simple_pdf(lines: list[str]) -> bytes:
    """An A4 page showing `lines` in Helvetica; the first one larger, as a title."""
    content = [b"BT", b"/F1 18 Tf", b"56 770 Td", b"22 TL"]
    for index, line in enumerate(lines):
        if index == 1:
            content.append(b"/F1 12 Tf")
        content.append(_pdf_text(line) + b" Tj T*")
    content.append(b"ET")
    stream = b"\n".join(content)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def write_invoice_pdfs(
    csv_path: Path, numbers: Iterable[str], target: Path, commune_name: str
) -> int:
    """Write `<number>.pdf` in `target` for each of `numbers` found in the CSV export."""
    wanted = set(numbers)
    text = csv_path.read_text(encoding="utf-8-sig")
    written = 0
    for row in csv.DictReader(io.StringIO(text, newline=""), delimiter=";"):
        number = row.get("numero_facture", "")
        if number not in wanted:
            continue
        lines = [
            f"{commune_name} : facture n° {number}",
            f"Débiteur : {row.get('nom_debiteur', '')} ({row.get('reference_debiteur', '')})",
            f"Objet : {row.get('objet', '')}",
            f"Date d'émission : {row.get('date_emission', '')}",
            f"Date d'échéance : {row.get('date_echeance', '')}",
            f"Montant : {row.get('montant', '')} €",
            "",
            "Document de démonstration du portail des factures.",
        ]
        (target / f"{number}.pdf").write_bytes(simple_pdf(lines))
        written += 1
    return written
