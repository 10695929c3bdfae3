"""Security headers on every response, and the client address used by rate limits."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.middleware import ASGIMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere, so the policy can be strict.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)

HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


# Browsers remember for a year to use https only (sent only when the portal is served over https).
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeadersMiddleware(ASGIMiddleware):
    def __init__(self, *, https: bool = False) -> None:
        self.headers = {**HEADERS, "strict-transport-security": HSTS} if https else HEADERS

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await next_app(scope, receive, send_with_headers)


def client_ip(request: Request, trust_proxy_headers: bool) -> str:
    """The client's address; X-Forwarded-For only counts behind our own reverse proxy."""
    if trust_proxy_headers:
        forwarded = request.headers.get("x-forwarded-for", "")
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first
    return request.client.host if request.client else "unknown"


class CsrfMiddleware(CSRFMiddleware):
    """Litestar's CSRF check, answering a token that is not ASCII like any other bad token.

    Litestar 2.25 compares tokens with `secrets.compare_digest`, which raises TypeError on
    non-ASCII text: a scanner's token then answered 500 instead of 403.
    """

    def _csrf_tokens_match(self, request_csrf_token: str, cookie_csrf_token: str) -> bool:
        tokens = (request_csrf_token, cookie_csrf_token)
        if not all(isinstance(token, str) and token.isascii() for token in tokens):
            return False
        return super()._csrf_tokens_match(request_csrf_token, cookie_csrf_token)
