"""The "known device" cookie: a browser that logged in to an address before.

Its value is `<address hash>.<expiry>.<signature>`: the address hash and the signature are
HMAC-SHA256 with the portal's secret key (the cookie shows neither the address nor anything
forgeable), the expiry a Unix time 90 days after the login. A known device is not blocked by
the failed logins others make on its address (`core.accounts.services.authenticate`), only by
its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time

from litestar.datastructures import Cookie

COOKIE_NAME = "portail_appareil"
LIFETIME = dt.timedelta(days=90)


def _mac(secret_key: str, purpose: str, text: str) -> str:
    message = f"{purpose}:{text}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def _address_hash(secret_key: str, slug: str, email: str) -> str:
    return _mac(secret_key, "known-device-address", f"{slug}:{email}")[:32]


def cookie_value(secret_key: str, slug: str, email: str, *, now: float | None = None) -> str:
    """The signed value for a browser that just logged in to `email` in commune `slug`."""
    expires = int((time.time() if now is None else now) + LIFETIME.total_seconds())
    payload = f"{_address_hash(secret_key, slug, email)}.{expires}"
    return f"{payload}.{_mac(secret_key, 'known-device', payload)}"


def is_known(
    secret_key: str, slug: str, email: str, value: str | None, *, now: float | None = None
) -> bool:
    """Whether `value` is an unexpired cookie of ours for this address and commune."""
    if not value or not value.isascii():
        return False
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    address_hash, expires, signature = parts
    if int(expires) <= (time.time() if now is None else now):
        return False
    expected = _mac(secret_key, "known-device", f"{address_hash}.{expires}")
    return hmac.compare_digest(signature, expected) and hmac.compare_digest(
        address_hash, _address_hash(secret_key, slug, email)
    )


def device_cookie(root: str, value: str, *, secure: bool, now: float | None = None) -> Cookie:
    """The cookie for a commune's pages only, kept 90 days (an `Expires` date)."""
    return Cookie(
        key=COOKIE_NAME,
        value=value,
        path=root,
        httponly=True,
        samesite="lax",
        secure=secure,
        expires=int((time.time() if now is None else now) + LIFETIME.total_seconds()),
    )
