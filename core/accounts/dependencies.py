"""The signed-in parent, as handlers receive it: `current_account` (or None) and `account`
(required: anyone else is sent to the login page). Wired by the app factory."""

from __future__ import annotations

from litestar import Request

from core.accounts.sessions import COOKIE_NAME, signed_in
from core.communes.context import CommuneContext
from core.web.identity import LoginRequired, SignedIn


async def current_account(request: Request, commune: CommuneContext) -> SignedIn | None:
    """The parent behind the session cookie, looked up once per request."""
    if "account" not in request.state:
        request.state.account = await signed_in(request.cookies.get(COOKIE_NAME), commune.id)
    return request.state.account


async def require_account(request: Request, commune: CommuneContext) -> SignedIn:
    account = await current_account(request, commune)
    if account is None:
        raise LoginRequired(commune.root)
    return account
