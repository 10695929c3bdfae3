"""Payment modes of a settled invoice: stable codes in the database, French labels in the
`payment_modes` catalogue, and the words billing exports use for them."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from core.i18n import t

CHEQUE = "cheque"
CASH = "especes"
DIRECT_DEBIT = "prelevement"
ONLINE = "en_ligne"
TRANSFER = "virement"
CARD = "carte"
OTHER = "autre"
PAYMENT_MODES = (CHEQUE, CASH, DIRECT_DEBIT, ONLINE, TRANSFER, CARD, OTHER)

# Folded words (no accents, lower case, single spaces) -> code. Codes are accepted as well.
_WORDS: dict[str, str] = {
    "cheque": CHEQUE,
    "cheques": CHEQUE,
    "chq": CHEQUE,
    "cheque bancaire": CHEQUE,
    "especes": CASH,
    "espece": CASH,
    "numeraire": CASH,
    "prelevement": DIRECT_DEBIT,
    "prelevement automatique": DIRECT_DEBIT,
    "prlv": DIRECT_DEBIT,
    "en ligne": ONLINE,
    "paiement en ligne": ONLINE,
    "internet": ONLINE,
    "payfip": ONLINE,
    "tipi": ONLINE,
    "virement": TRANSFER,
    "vir": TRANSFER,
    "carte": CARD,
    "carte bancaire": CARD,
    "cb": CARD,
    "tpe": CARD,
    "autre": OTHER,
}


def fold(text: str) -> str:
    """`text` without accents, lower-case, `_`/`-` read as spaces, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().replace("_", " ").replace("-", " ").split())


@lru_cache(maxsize=256)
def parse_payment_mode(raw: str) -> str | None:
    """The code for a mode as written in an export ("Chèque", "CB", "en_ligne"); None if unknown."""
    return _WORDS.get(fold(raw))


def payment_mode_label(code: str) -> str:
    """The French label of a mode code ("cheque" -> "Chèque"); "" for no mode."""
    return t(f"payment_modes.{code}") if code else ""
