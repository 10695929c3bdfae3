"""Input checks shared by the web service and the TIPI page.

The rules follow what the real service is known to accept or reject (docs: shared/payfip.md);
each check returns a code instead of raising, so the caller decides how to report it
(a SOAP fault for PayFiP, a French error page for TIPI).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

REFDET_RE = re.compile(r"[A-Za-z0-9]{6,30}")
NUMCLI_RE = re.compile(r"[0-9]{6}")
MEL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DIGITS_RE = re.compile(r"[0-9]+")
EXER_RE = re.compile(r"[0-9]{1,4}")

MIN_AMOUNT = 100
"""Cents: the service refuses payments under 1 € (M3)."""

PAYFIP_SAISIES = ("T", "X", "W")
TIPI_SAISIES = ("T", "X", "A", "M")


def is_http_url(value: str) -> bool:
    """Return URLs must be absolute http(s) URLs: the service sends the browser there."""
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def is_mel(value: str) -> bool:
    return 6 <= len(value) <= 80 and MEL_RE.fullmatch(value) is not None


def check_creation(
    fields: Mapping[str, str], *, known_numcli: Collection[str] | None, max_amount: int
) -> str | None:
    """The error code creerPaiementSecurise answers for these fields, or None if they are valid.

    The order matters and matches the recorded exchanges: a bad refdet wins over everything
    (R3), and a bad mel wins over an amount that is too large (A2 for montant=9990000001).
    """
    if not REFDET_RE.fullmatch(fields.get("refdet", "")):
        return "R3"
    mel = fields.get("mel", "")
    if not mel:
        return "A1"
    if not is_mel(mel):
        return "A2"
    numcli = fields.get("numcli", "")
    if not NUMCLI_RE.fullmatch(numcli):
        return "T1"
    if known_numcli is not None and numcli not in known_numcli:
        return "T2"
    if fields.get("saisie", "") not in PAYFIP_SAISIES:
        return "S1"
    montant = fields.get("montant", "")
    if not DIGITS_RE.fullmatch(montant):
        return "M1"
    if int(montant) < MIN_AMOUNT:
        return "M3"
    if int(montant) > max_amount:
        return "M5"
    if not is_http_url(fields.get("urlnotif", "")):
        return "N1"
    if not is_http_url(fields.get("urlredirect", "")):
        return "D1"
    return None


def check_tipi(
    params: Mapping[str, str], *, known_numcli: Collection[str] | None, max_amount: int
) -> list[str]:
    """Every problem with a TIPI `paiement.web` query, as keys the error page explains."""
    problems: list[str] = []
    numcli = params.get("numcli", "")
    if not NUMCLI_RE.fullmatch(numcli):
        problems.append("numcli")
    elif known_numcli is not None and numcli not in known_numcli:
        problems.append("numcli_inconnu")
    exer = params.get("exer", "")
    if exer and not EXER_RE.fullmatch(exer):
        problems.append("exer")
    if not REFDET_RE.fullmatch(params.get("refdet", "")):
        problems.append("refdet")
    montant = params.get("montant", "")
    if not DIGITS_RE.fullmatch(montant):
        problems.append("montant")
    elif int(montant) < MIN_AMOUNT:
        problems.append("montant_min")
    elif int(montant) > max_amount:
        problems.append("montant_max")
    if not is_mel(params.get("mel", "")):
        problems.append("mel")
    if not is_http_url(params.get("urlcl", "")):
        problems.append("urlcl")
    if params.get("saisie", "") not in TIPI_SAISIES:
        problems.append("saisie")
    return problems
