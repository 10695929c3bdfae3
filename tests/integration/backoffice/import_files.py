"""Files of the import tests: a CSV export as the billing software writes it, zips of PDFs."""

from __future__ import annotations

import io
import zipfile

HEADER = (
    "reference_debiteur;nom_debiteur;emails;regie;numero_facture;objet;date_emission;"
    "date_echeance;montant;statut"
)


def invoices_csv(
    *numbers: str, bad_amount_on: str = "", ref: str = "P1", email: str = "claire@example.org"
) -> bytes:
    """One invoice per number for the payer `ref`; the one named `bad_amount_on` has a
    negative amount (a refused line)."""
    lines = [HEADER]
    for number in numbers:
        amount = "-27,00" if number == bad_amount_on else "42,50"
        lines.append(
            f"{ref};Famille {ref};{email};CANT;{number};Restauration scolaire;"
            f"05/11/2026;30/11/2026;{amount};à régler"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


PDF = b"%PDF-1.4\n% test\n%%EOF\n"
HOSTILE_ZIP_MESSAGE = "Le chemin « ../evil.pdf » remonte d’un dossier (« .. ») : archive refusée."


def hostile_zip() -> bytes:
    return zip_of({"../evil.pdf": PDF})
