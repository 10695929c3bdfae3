"""E-mail addresses as the portal stores and compares them."""

from __future__ import annotations

import re
import unicodedata

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def normalise_email(raw: str) -> str:
    """Trimmed, NFC, lower-case; "" when it does not look like an address."""
    email = unicodedata.normalize("NFC", raw or "").strip().lower()
    return email if EMAIL_PATTERN.match(email) and len(email) <= 254 else ""
