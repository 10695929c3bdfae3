"""One database connection per request (see `core.db.request_scope`)."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from core.db import request_scope


def one_connection_per_request(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: the request's statements share one connection, given back at its end."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        async with request_scope():
            await app(scope, receive, send)

    return middleware
