"""The signed-in parent, as handlers receive it: `current_account` (or None) and `account`
(required: anyone else is sent to the login page). Wired by the app factory."""

from __future__ import annotations

import datetime as dt

from litestar import Request

from core.accounts.sessions import COOKIE_NAME, signed_in
from core.communes.context import CommuneContext
from core.web.dependencies import provide_settings
from core.web.identity import LoginRequired, SignedIn

# Where a browser whose session ended (inactivity, "Se déconnecter partout", a password
# change elsewhere) is sent: the login page says why instead of appearing out of nowhere.
SESSION_ENDED_STEP = "connexion?info=session_ended"


# These take the settings from the portal rather than as the `settings` dependency: Litestar
# resolves the dependencies of one level together in an anyio task group (two tasks per
# request) when there are several, and `commune` alone resolves without one.


def session_of(request: Request) -> tuple[str | None, dt.timedelta | None]:
    """The session cookie's secret and the inactivity after which its session has ended: what
    `core.accounts.sessions.signed_in` (or a page's statement opened with the session) checks."""
    return request.cookies.get(COOKIE_NAME), provide_settings(request).session_idle_timeout


async def current_account(request: Request, commune: CommuneContext) -> SignedIn | None:
    """The parent behind the session cookie, looked up once per request."""
    if "account" not in request.state:
        secret, idle_timeout = session_of(request)
        request.state.account = await signed_in(secret, commune.id, idle_timeout)
    return request.state.account


async def require_account(request: Request, commune: CommuneContext) -> SignedIn:
    account = await current_account(request, commune)
    if account is None:
        raise login_required(request, commune)
    return account


def login_required(request: Request, commune: CommuneContext) -> LoginRequired:
    """Where a request without an open session goes: the login page, saying why when the
    browser had a session that ended."""
    ended = bool(request.cookies.get(COOKIE_NAME))
    return LoginRequired(commune.root, SESSION_ENDED_STEP if ended else "connexion")
