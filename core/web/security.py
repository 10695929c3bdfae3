"""Security headers on every response, and the client address used by rate limits."""

from __future__ import annotations

import ipaddress

from litestar import Request
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import Message, Scope

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


class SecurityHeaders:
    """A `before_send` hook: Litestar runs it on every response the app sends, outside every
    middleware, so answers made from an exception (a refused CSRF token, a 404 raised before
    the handler) carry the headers too, which a middleware in the route's stack missed."""

    def __init__(self, *, https: bool = False) -> None:
        headers = {**HEADERS, "strict-transport-security": HSTS} if https else HEADERS
        # Encoded once; a response's own value for one of them (a page's stricter policy) wins.
        self.raw = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            # On the raw header list: Litestar's `MutableScopeHeaders` scans the whole list for
            # each name looked up or set, a dozen scans per response.
            headers = message.get("headers", [])
            present = {name.lower() for name, _ in headers}
            missing = [pair for pair in self.raw if pair[0] not in present]
            if missing:
                message["headers"] = [*headers, *missing]


def client_ip(request: Request, trusted_proxy_hops: int) -> str:
    """The client's address, as rate limits count it.

    With no proxy of ours in front (`trusted_proxy_hops=0`), the connection's peer. Behind N
    proxies of ours, each appends the address it received the request from to X-Forwarded-For,
    so the N-th entry from the right is the one our outermost proxy wrote; anything to its left
    was written by the client and is ignored. A header too short or holding something that is
    not an IP address falls back to the peer.
    """
    peer = request.client.host if request.client else "unknown"
    if trusted_proxy_hops <= 0:
        return peer
    entries = ",".join(request.headers.getall("x-forwarded-for", [])).split(",")
    if len(entries) < trusted_proxy_hops:
        return peer
    candidate = entries[-trusted_proxy_hops].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


CSRF_COOKIE_NAME = "portail_csrf"


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
