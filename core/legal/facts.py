"""Facts the legal pages state, read from the code and the settings rather than written by
hand, so the notice cannot drift from what the portal does."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.accounts import devices, sessions
from core.accounts.services import ACTIVATION_TTL, EMAIL_CHANGE_TTL, RESET_TTL
from core.alert_addresses.services import CONFIRMATION_TTL
from core.backoffice.sessions import COOKIE_NAME as AGENT_COOKIE
from core.security.throttle import PURGE_AFTER_SECONDS
from core.settings import Settings
from core.web.security import CSRF_COOKIE_NAME


@dataclass(frozen=True)
class CookieFact:
    name: str
    purpose: str  # catalogue key under legal.cookies
    lifetime: dt.timedelta | None  # None: until the browser closes


def retentions(settings: Settings) -> dict[str, dt.timedelta | None]:
    """How long each kind of data lives, as the code and the settings make it."""
    return {
        "session": sessions.BROWSER_LIFETIME,
        "session_idle": settings.session_idle_timeout,
        "session_remembered": sessions.PERSISTENT_LIFETIME,
        "activation_link": ACTIVATION_TTL,
        "reset_link": RESET_TTL,
        "email_change_link": EMAIL_CHANGE_TTL,
        "alert_confirmation_link": CONFIRMATION_TTL,
        "sent_mail": dt.timedelta(days=settings.outbox_retention_days),
        # Deleted by the hourly housekeeping once their window started a day ago.
        "attempt_counters": dt.timedelta(seconds=PURGE_AFTER_SECONDS),
        "known_device": devices.LIFETIME,
    }


def cookies() -> list[CookieFact]:
    """Every cookie the portal sets; none is for audience measurement or advertising."""
    return [
        CookieFact(sessions.COOKIE_NAME, "session", None),
        CookieFact(CSRF_COOKIE_NAME, "csrf", None),
        CookieFact(devices.COOKIE_NAME, "known_device", devices.LIFETIME),
        CookieFact(AGENT_COOKIE, "agent_session", None),
    ]
