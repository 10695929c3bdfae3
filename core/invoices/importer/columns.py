"""The columns of the billing export, the other spellings of their names, and the words and
bounds of their values (documented in docs/import.md)."""

from __future__ import annotations

from dataclasses import dataclass

from core.invoices.tables import PAID, TO_PAY, TREASURY


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    max_length: int | None = None


PAYER_REF = "reference_debiteur"
PAYER_NAME = "nom_debiteur"
EMAILS = "emails"
REGIE = "regie"
NUMBER = "numero_facture"
PAYMENT_REFERENCE = "reference_paiement"
OBJECT = "objet"
ISSUED_ON = "date_emission"
DUE_ON = "date_echeance"
AMOUNT = "montant"
PAID_AMOUNT = "montant_regle"
STATUS = "statut"
PAID_ON = "date_reglement"
PAYMENT_MODE = "mode_reglement"
AUTHORISATION = "numero_autorisation"
DIRECT_DEBIT = "prelevement"
DEBIT_ON = "date_prelevement"

COLUMNS: tuple[Column, ...] = (
    Column(PAYER_REF, True, 64),
    Column(PAYER_NAME, True, 200),
    Column(EMAILS, False, 1000),
    Column(REGIE, True, 40),
    Column(NUMBER, True, 64),
    Column(PAYMENT_REFERENCE, False, 64),
    Column(OBJECT, False, 200),
    Column(ISSUED_ON, True),
    Column(DUE_ON, False),
    Column(AMOUNT, True),
    Column(PAID_AMOUNT, False),
    Column(STATUS, True),
    Column(PAID_ON, False),
    Column(PAYMENT_MODE, False),
    Column(AUTHORISATION, False, 64),
    Column(DIRECT_DEBIT, False),
    Column(DEBIT_ON, False),
)
COLUMNS_BY_NAME = {c.name: c for c in COLUMNS}

# Other spellings of a header (after folding: no accents, lower case, `_` between words).
HEADER_ALIASES = {
    "email": EMAILS,
    "e_mail": EMAILS,
    "e_mails": EMAILS,
    "courriel": EMAILS,
    "courriels": EMAILS,
    "numero_de_facture": NUMBER,
    "reference_de_paiement": PAYMENT_REFERENCE,
    "date_d_emission": ISSUED_ON,
    "date_d_echeance": DUE_ON,
    "date_de_reglement": PAID_ON,
    "mode_de_reglement": PAYMENT_MODE,
    "date_de_prelevement": DEBIT_ON,
}

STATUS_WORDS = {
    "a regler": TO_PAY,
    "reglee": PAID,
    "regle": PAID,
    "tresorerie": TREASURY,
}
TRUE_WORDS = frozenset({"oui", "o", "1", "true", "vrai", "yes", "x"})
FALSE_WORDS = frozenset({"non", "n", "0", "false", "faux", "no", ""})

MAX_AMOUNT_CENTS = 99_999_999_999  # 999 999 999,99 €
MIN_YEAR, MAX_YEAR = 1900, 2100
