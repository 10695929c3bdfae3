"""Text as the payment services take it."""

from __future__ import annotations

import re
import unicodedata


def normalize_objet(text: str) -> str:
    """Make `objet` acceptable to PayFiP: only [A-Za-z0-9 ], at most 100 characters (payfip.md §2).

    PayFiP refuses special characters in objet, so accents are stripped (NFKD), apostrophes and
    dashes become spaces, anything else outside the alphabet is dropped and spaces are collapsed.
    """
    if not text:
        return ""
    # Ligatures NFKD leaves alone but French uses ("cœur", "Lætitia").
    for ligature, letters in (("œ", "oe"), ("Œ", "OE"), ("æ", "ae"), ("Æ", "AE"), ("ß", "ss")):
        text = text.replace(ligature, letters)
    text = unicodedata.normalize("NFKD", text)
    # Word separators become spaces (typographic apostrophe and dashes included) before the
    # ASCII filter would glue the words together.
    text = re.sub(r"['’‘\-‐‑–—\s]", " ", text)
    text = text.encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9 ]", "", text)
    text = re.sub(r" +", " ", text).strip()
    return text[:100].rstrip()
