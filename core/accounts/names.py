"""The form of a payer's name that the back office searches: `payer.search_name`.

Agents type "martin", "Martín" or "MART" for "MARTIN Clément": the stored form is lower-case,
without accents, punctuation turned into spaces, so one indexed prefix comparison finds it on
both engines (no `unaccent` extension, no case-insensitive collation needed). Billing software
often writes "Famille Martin" or "M. et Mme MARTIN": those leading words are left out (of the
query too), so the family name starts the stored form. Whatever writes `payer.name` writes this
column too (the importer, the tests' and e2e seeds).
"""

from __future__ import annotations

import unicodedata

SEARCH_NAME_MAX_LENGTH = 200
# Words that come before a family's name in billing exports, not part of it.
LEADING_WORDS = frozenset({"famille", "m", "mr", "mme", "mlle", "monsieur", "madame", "et"})


def search_name(name: str) -> str:
    """`name` lower-cased, accents removed, runs of other characters as one space, without
    the leading "Famille", "M. et Mme"... (unless nothing else is left)."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = "".join(c if c.isalnum() else " " for c in letters).split()
    while len(words) > 1 and words[0] in LEADING_WORDS:
        words.pop(0)
    return " ".join(words)[:SEARCH_NAME_MAX_LENGTH]
