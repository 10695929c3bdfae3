"""Server-side sessions: the cookie holds a random id, the `web_session` table its hash.

Stored in the database, sessions work across several server processes (PostgreSQL in
production, the SQLite file for a single process). A login always creates a new id; logout
deletes the row; bumping `account.auth_version` ends every session of the account at once.
A session without "Se souvenir de moi" also ends after a period without requests
(`PORTAIL_SESSION_IDLE_MINUTES`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from litestar.datastructures import Cookie

from core.accounts.tables import Account, WebSession
from core.clock import now
from core.db import as_aware, quick_read
from core.security.tokens import MAX_SECRET_LENGTH, digest, new_secret
from core.web.identity import SignedIn

COOKIE_NAME = "portail_session"
PERSISTENT_LIFETIME = dt.timedelta(days=30)  # "Se souvenir de moi"
BROWSER_LIFETIME = dt.timedelta(hours=12)  # server-side bound of a browser-session cookie
# `last_seen_at` is written at most this often: a write on every page would cost more than the
# page, and the inactivity timeout is counted in minutes.
LAST_SEEN_RESOLUTION = dt.timedelta(minutes=1)
USER_AGENT_LENGTH = 200


# (marker in the User-Agent, name shown), first match wins: Edge and Opera also say "Chrome",
# Chrome also says "Safari".
BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


@dataclass(frozen=True)
class OpenSession:
    """One of the account's open sessions, as "Mes informations" lists them."""

    created_at: dt.datetime
    last_seen_at: dt.datetime
    persistent: bool
    user_agent: str
    current: bool

    @property
    def browser(self) -> str:
        """The browser's name, or "" when the User-Agent does not say."""
        return _first_match(self.user_agent, BROWSERS)

    @property
    def system(self) -> str:
        """The operating system's name, or "" when the User-Agent does not say."""
        return _first_match(self.user_agent, SYSTEMS)


def _first_match(user_agent: str, known: tuple[tuple[str, str], ...]) -> str:
    return next((name for marker, name in known if marker in user_agent), "")


async def open_session(
    account_id: int,
    auth_version: int,
    *,
    persistent: bool,
    user_agent: str = "",
    display_name: str | None = None,
) -> str:
    """Create a session and return the secret for the cookie. `display_name` is the header's
    name when the caller has read it (a login reads it with the account), else it is read."""
    secret = new_secret()
    created = now()
    if display_name is None:
        display_name = await holder_name(account_id)
    await WebSession.raw(
        OPEN_SESSION_STATEMENT,
        digest(secret),
        account_id,
        auth_version,
        persistent,
        created,
        created,
        created + (PERSISTENT_LIFETIME if persistent else BROWSER_LIFETIME),
        user_agent[:USER_AGENT_LENGTH],
        display_name,
    )
    return secret


# Hand-written, as the holder's name below: a login's query building took more of the event
# loop's time than its statements (Piccolo's foreign-key attribute access calls `dir()` each
# time). The values go through the same driver adapters as the query builder's, so the row
# reads back the same (`test_a_login_stores_its_session_as_the_query_builder_reads_it`).
OPEN_SESSION_STATEMENT = """
INSERT INTO web_session (id_hash, account, auth_version, persistent, created_at, last_seen_at,
                         expires_at, user_agent, display_name)
VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})
"""


async def holder_name(account_id: int) -> str:
    """The name the header shows: the account's first linked payer's ("" without one). Copied
    into the session at login, so that pages read it with the session, not by a join."""
    rows = await quick_read(HOLDER_NAME_QUERY, account_id)
    return str(rows[0]["name"]) if rows else ""


# `holder_name`'s statement for the account `{account}`: a placeholder here, a column in the
# login's account read (`core.accounts.services.LOGIN_ACCOUNT_QUERY`).
HOLDER_NAME_SQL = """SELECT p.name FROM account_payer ap JOIN payer p ON p.id = ap.payer
WHERE ap.account = {account} ORDER BY ap.id LIMIT 1"""
HOLDER_NAME_QUERY = HOLDER_NAME_SQL.format(account="{}")


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
# query builder (a join, a dozen aliased columns) took more CPU than PostgreSQL took to run it.
SIGNED_IN_QUERY = """
SELECT s.id_hash, s.auth_version, s.created_at, s.last_seen_at, s.expires_at, s.persistent,
       s.display_name, a.id AS account_id, a.email, a.commune AS commune_id, a.state,
       a.auth_version AS account_auth_version
FROM web_session s JOIN account a ON a.id = s.account
WHERE s.id_hash = {}
"""
# The same lookup as the opening of a page's own statement, whose rows are then read for
# `SIGNED_IN_ACCOUNT` and carry the session's columns: on PostgreSQL each statement is a round
# trip, about a tenth of a list page's CPU. Run by `signed_in_rows`, which gives the rows only
# once `accept_session` has accepted the session they came with.
SIGNED_IN_CTE = f"WITH signed_in AS ({SIGNED_IN_QUERY})"
SIGNED_IN_ACCOUNT = "(SELECT account_id FROM signed_in)"


def session_hash(secret: str | None) -> str | None:
    """What the session's row is found by, or None for no cookie or one too long to be ours."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    return digest(secret)


async def signed_in(
    secret: str | None, commune_id: int, idle_timeout: dt.timedelta | None = None
) -> SignedIn | None:
    """The active account of `commune_id` behind `secret`, or None: the session and its
    account in one statement (`SIGNED_IN_QUERY`, then `accept_session`)."""
    found = await signed_in_rows(secret, commune_id, idle_timeout, SIGNED_IN_QUERY)
    return None if found is None else found[0]


async def signed_in_rows(
    secret: str | None,
    commune_id: int,
    idle_timeout: dt.timedelta | None,
    sql: str,
    *args: Any,
) -> tuple[SignedIn, list[Any]] | None:
    """The statement `sql` for the session behind `secret`: `SIGNED_IN_QUERY`, or a page's own
    opened with `SIGNED_IN_CTE` (the session's hash is its first placeholder, `args` the
    others; its first row carries the session's columns). The signed-in account and the rows,
    or None when there is no open session (then the rows were not looked at)."""
    hashed = session_hash(secret)
    if hashed is None:
        return None
    rows = await quick_read(sql, hashed, *args)
    account = await accept_session(rows[0] if rows else None, commune_id, idle_timeout)
    return None if account is None else (account, rows)


async def accept_session(
    row: Any, commune_id: int, idle_timeout: dt.timedelta | None
) -> SignedIn | None:
    """The signed-in account of a row with `SIGNED_IN_QUERY`'s columns (None: no session), if
    its session is still open for `commune_id`; else None.

    A session without "Se souvenir de moi" unused for `idle_timeout` has ended (None: no
    inactivity timeout); a session in use has its `last_seen_at` moved on (a statement of its
    own, at most once a minute).
    """
    expires_at = None if row is None else as_aware(row["expires_at"])
    moment = now()
    if (
        row is None
        or expires_at is None
        or row["commune_id"] != commune_id
        or row["state"] != "active"
        or row["auth_version"] != row["account_auth_version"]
        or expires_at <= moment
    ):
        return None
    # A session opened before `last_seen_at` existed counts from its opening.
    last_seen = as_aware(row["last_seen_at"] or row["created_at"]) or moment
    if idle_timeout is not None and not row["persistent"] and last_seen + idle_timeout <= moment:
        return None
    if moment - last_seen >= LAST_SEEN_RESOLUTION:
        await WebSession.update({WebSession.last_seen_at: moment}).where(
            WebSession.id_hash == row["id_hash"]
        )
    return SignedIn(
        account_id=row["account_id"],
        email=row["email"],
        session_hash=row["id_hash"],
        persistent=bool(row["persistent"]),
        display_name=row["display_name"],
    )


async def end_session(session_hash: str) -> int | None:
    """End one session; returns its account's id (None: there was no such session)."""
    rows = (
        await WebSession.delete()
        .where(WebSession.id_hash == session_hash)
        .returning(WebSession.account)
    )
    return int(rows[0]["account"]) if rows else None


async def open_sessions(
    account_id: int, current_hash: str, idle_timeout: dt.timedelta | None
) -> list[OpenSession]:
    """The account's sessions that have not ended, most recently used first."""
    moment = now()
    rows = (
        await WebSession.select(
            WebSession.id_hash,
            WebSession.created_at,
            WebSession.last_seen_at,
            WebSession.persistent,
            WebSession.user_agent,
        )
        .where((WebSession.account == account_id) & (WebSession.expires_at > moment))
        .order_by(WebSession.id, ascending=False)
    )
    sessions = [
        OpenSession(
            created_at=row["created_at"],
            last_seen_at=row["last_seen_at"] or row["created_at"],
            persistent=row["persistent"],
            user_agent=row["user_agent"],
            current=row["id_hash"] == current_hash,
        )
        for row in rows
    ]
    if idle_timeout is not None:
        cutoff = moment - idle_timeout
        sessions = [s for s in sessions if s.persistent or s.last_seen_at > cutoff]
    return sorted(sessions, key=lambda s: (not s.current, -s.last_seen_at.timestamp()))


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
