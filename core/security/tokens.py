"""Random secrets for links and sessions; only their SHA-256 is stored, and rows are found
by it (`row_by_secret`)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from piccolo.columns import Column
from piccolo.columns.combination import Combinable

MAX_SECRET_LENGTH = 100
"""Longer than any secret `new_secret()` makes: such a value is refused without a query."""


def new_secret() -> str:
    """256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def row_by_secret(
    hash_column: Column,
    secret: str | None,
    *columns: Any,
    where: Combinable | None = None,
) -> dict[str, Any] | None:
    """The first row of `hash_column`'s table whose hash is `digest(secret)` (and matching
    `where`), with `columns`; None for an empty or oversized secret or when there is none.

    Whether the row is still usable (expiry, single use, the account's state) is the caller's
    rule: each kind of secret has its own.
    """
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    condition: Combinable = hash_column == digest(secret)
    if where is not None:
        condition = condition & where
    table = hash_column._meta.table
    return await table.select(*columns).where(condition).first()
