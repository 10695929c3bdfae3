"""Server-side sessions: the cookie holds a random id, the `web_session` table its hash.

Stored in the database, sessions work across several server processes (PostgreSQL in
production, the SQLite file for a single process). A login always creates a new id; logout
deletes the row; bumping `account.auth_version` ends every session of the account at once.
"""

from __future__ import annotations

import datetime as dt

from litestar.datastructures import Cookie

from core.accounts.tables import Account, WebSession
from core.clock import now
from core.db import as_aware, quick_read
from core.security.tokens import MAX_SECRET_LENGTH, digest, new_secret
from core.web.identity import SignedIn

COOKIE_NAME = "portail_session"
PERSISTENT_LIFETIME = dt.timedelta(days=30)  # "Se souvenir de moi"
BROWSER_LIFETIME = dt.timedelta(hours=12)  # server-side bound of a browser-session cookie


async def open_session(account_id: int, auth_version: int, *, persistent: bool) -> str:
    """Create a session and return the secret for the cookie."""
    secret = new_secret()
    created = now()
    await WebSession.insert(
        WebSession(
            id_hash=digest(secret),
            account=account_id,
            auth_version=auth_version,
            persistent=persistent,
            created_at=created,
            expires_at=created + (PERSISTENT_LIFETIME if persistent else BROWSER_LIFETIME),
        )
    )
    return secret


def session_cookie(root: str, secret: str, *, persistent: bool, secure: bool) -> Cookie:
    """The cookie for a commune's pages only (its path is the commune's root)."""
    return Cookie(
        key=COOKIE_NAME,
        value=secret,
        path=root,
        httponly=True,
        samesite="lax",
        secure=secure,
        max_age=int(PERSISTENT_LIFETIME.total_seconds()) if persistent else None,
    )


def cleared_cookie(root: str, *, secure: bool) -> Cookie:
    return Cookie(
        key=COOKIE_NAME,
        value="",
        path=root,
        httponly=True,
        samesite="lax",
        secure=secure,
        max_age=0,
    )


# Hand-written: this lookup runs before every parent's page, and building it with Piccolo's
# query builder (a join, nine aliased columns) took more CPU than PostgreSQL took to run it.
SIGNED_IN_QUERY = """
SELECT s.id_hash, s.auth_version, s.expires_at, s.persistent,
       a.id AS account_id, a.email, a.commune AS commune_id, a.state,
       a.auth_version AS account_auth_version
FROM web_session s JOIN account a ON a.id = s.account
WHERE s.id_hash = {}
"""


async def signed_in(secret: str | None, commune_id: int) -> SignedIn | None:
    """The active account of `commune_id` behind `secret`, or None: the session and its
    account in one statement."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    rows = await quick_read(SIGNED_IN_QUERY, digest(secret))
    row = rows[0] if rows else None
    expires_at = None if row is None else as_aware(row["expires_at"])
    if (
        row is None
        or expires_at is None
        or row["commune_id"] != commune_id
        or row["state"] != "active"
        or row["auth_version"] != row["account_auth_version"]
        or expires_at <= now()
    ):
        return None
    return SignedIn(
        account_id=row["account_id"],
        email=row["email"],
        session_hash=row["id_hash"],
        persistent=bool(row["persistent"]),
    )


async def end_session(session_hash: str) -> None:
    await WebSession.delete().where(WebSession.id_hash == session_hash)


async def end_all_sessions(account_id: int) -> None:
    await WebSession.delete().where(WebSession.account == account_id)


async def purge_expired_sessions() -> None:
    await WebSession.delete().where(WebSession.expires_at <= now())


async def bump_auth_version(account_id: int) -> int:
    """End every session of the account; returns the new version for the session to open."""
    rows = (
        await Account.update({Account.auth_version: Account.auth_version + 1})
        .where(Account.id == account_id)
        .returning(Account.auth_version)
    )
    await end_all_sessions(account_id)
    return int(rows[0]["auth_version"])
