"""The security log (ASVS V16): one JSON line per event on the `portail.security` logger.

Each line has `time` (UTC), `event`, `outcome`, `commune` (slug), `client` (the client address
as the rate limits see it), `account` or `agent` (ids) and, by event, a few of `DETAILS`. The
events and their outcomes are a closed list (`EVENTS`): an unknown one is a programming error.

What is never written: a password, a token or a link carrying one (paths go through
`redact_path`), a session cookie, an e-mail body, card data. An address a person typed is
written masked (`c***@example.org`, `mask_email`); a known account is written by its id only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

LOGGER_NAME = "portail.security"
logger = logging.getLogger(LOGGER_NAME)
logger.setLevel(logging.INFO)  # every event is written, whatever the application's level

_ACCOUNT = ("success", "failure", "throttled")
EVENTS: dict[str, tuple[str, ...]] = {
    # Parents
    "login": _ACCOUNT,
    "logout": ("success",),
    "activation_request": ("accepted", "throttled"),
    "activation": ("success", "failure"),
    "reset_request": ("accepted", "throttled"),
    "password_reset": ("success", "failure"),
    "password_change": _ACCOUNT,
    "email_change_request": _ACCOUNT,
    "email_change": ("success", "failure"),
    "account_export": ("success",),
    "account_deletion": _ACCOUNT,
    # Agents
    "agent_login": (*_ACCOUNT, "second_factor_failure"),
    "agent_logout": ("success",),
    "permission": ("refused",),
    # Any request
    "csrf": ("refused",),
    "foreign_object": ("refused",),  # a 404 on another payer's object
    # Payments
    "payment": ("settled", "refused", "abandoned", "expired", "review", "declared"),
}
DETAILS = frozenset({"email", "reason", "method", "path", "attempt", "amount_cents", "provider"})

# A path segment, or a query value, that may be a link's secret: `new_secret()` makes 43
# URL-safe characters; a route's own words ("double-authentification") have no digit or capital.
_LINK_WORD = r"(?=[a-z_-]*[A-Z0-9])[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])"
_SECRET_SEGMENT = re.compile(r"(?<=/)" + _LINK_WORD)
_SECRET_VALUE = re.compile(r"(?<=[/=])" + _LINK_WORD)


def record(
    event: str,
    outcome: str,
    *,
    commune: str,
    client: str = "",
    account: int | None = None,
    agent: int | None = None,
    **details: str | int | None,
) -> None:
    """Write one event; `details` are among `DETAILS` (an `email` is masked here)."""
    if outcome not in EVENTS.get(event, ()):
        raise ValueError(f"unknown security event {event!r} / outcome {outcome!r}")
    unknown = set(details) - DETAILS
    if unknown:
        raise ValueError(f"security event fields not allowed: {sorted(unknown)}")
    fields: dict[str, Any] = {"event": event, "outcome": outcome, "commune": commune}
    fields["client"] = client
    if account is not None:
        fields["account"] = account
    if agent is not None:
        fields["agent"] = agent
    for name, value in details.items():
        if value is None or value == "":
            continue
        if name == "email":
            value = mask_email(str(value))
        elif name == "path":
            value = redact_path(str(value))
        fields[name] = value
    logger.info("%s %s", event, outcome, extra={"security": fields})


def mask_email(address: str) -> str:
    """`claire@example.org` -> `c***@example.org`: enough to group lines, not to read them."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain[:254]}"


def redact_path(path: str) -> str:
    """A URL path with its secret-looking segments (link tokens) replaced by `…`, no query."""
    return _SECRET_SEGMENT.sub("…", path.partition("?")[0])


def redact_target(target: str) -> str:
    """A request target (path and query) with its secret-looking segments and values cut."""
    return _SECRET_VALUE.sub("…", target)


class AccessLogRedaction(logging.Filter):
    """Cuts link tokens out of uvicorn's access log lines (`portail serve` installs it): the
    request line of `GET /boe/activation/<token>` must not keep a usable link at rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


# --- Output --------------------------------------------------------------------------------


class JsonLineFormatter(logging.Formatter):
    """A record's `security` fields as one JSON object, with its time first."""

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        line = {"time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        line.update(getattr(record, "security", {"event": record.getMessage()}))
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


class _CurrentStderr(logging.StreamHandler[Any]):
    """Writes to whatever `sys.stderr` is when a line is written (as logging's last resort)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_installed: list[logging.Handler] = []


def configure(log_file: str) -> logging.Handler:
    """Send the security log to `log_file` (appended), or to stderr when it is "", as JSON
    lines; replaces the handler an earlier call installed (each app factory calls it)."""
    while _installed:
        old = _installed.pop()
        logger.removeHandler(old)
        old.close()
    handler: logging.Handler
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = _CurrentStderr()
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)
    _installed.append(handler)
    logger.propagate = False  # its own lines, not mixed into the application's log format
    return handler
