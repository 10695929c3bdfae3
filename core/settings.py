"""Process settings, read from the environment (a `.env` file fills in what the environment lacks).

Everything that differs between a laptop and a production server lives here: the database, SMTP,
secrets, the public URL. What differs between communes lives in the TOML configuration
(`core.config`), whose path is itself a setting.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SECRET_KEY_MIN_LENGTH = 32
"""Shorter secrets sign CSRF tokens and device cookies that can be guessed offline."""

DEPRECATED_TRUST_PROXY_HEADERS = "PORTAIL_TRUST_PROXY_HEADERS"
"""Replaced by PORTAIL_TRUSTED_PROXY_HOPS; a true value still reads as one hop."""


def _setting(env: str, default: Any, help: str) -> Any:
    return field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Settings:
    """One field per setting; `metadata` holds its variable (`env`) and its documentation."""

    database_url: str = _setting(
        "DATABASE_URL",
        "sqlite:///var/portail.sqlite",
        "Database: `sqlite:///path/to/file.sqlite` (default) or `postgresql://user@host:5432/db`.",
    )
    redis_url: str = _setting(
        "REDIS_URL",
        "",
        "Optional Redis (`redis://host:6379/0`) where the rate limits are counted instead of "
        "the database; empty: the database. If Redis stops answering, the counts go to the "
        "database until it is back (see docs/several-servers.md).",
    )
    config_path: str = _setting(
        "PORTAIL_CONFIG", "portail.toml", "Path of the TOML file describing the communes."
    )
    base_url: str = _setting(
        "PORTAIL_BASE_URL",
        "http://127.0.0.1:8000",
        "Public URL of the portal, used in the links sent by e-mail.",
    )
    secret_key: str = _setting(
        "PORTAIL_SECRET_KEY",
        "",
        "Secret used to sign CSRF tokens and device cookies: at least 32 random characters. "
        "Required unless PORTAIL_DEBUG or PORTAIL_DEMO is set (a random one is then drawn).",
    )
    debug: bool = _setting(
        "PORTAIL_DEBUG", False, "Development mode: tracebacks, strict templates, random secret."
    )
    trusted_proxy_hops: int = _setting(
        "PORTAIL_TRUSTED_PROXY_HOPS",
        0,
        "Reverse proxies of your own in front of the portal. 0: the client address is the "
        "connection's peer; N: the N-th address from the right of X-Forwarded-For (the one "
        "your outermost proxy appended; what the client wrote to its left is ignored). "
        "The former PORTAIL_TRUST_PROXY_HEADERS=1 still reads as 1 (deprecated).",
    )
    session_idle_minutes: int = _setting(
        "PORTAIL_SESSION_IDLE_MINUTES",
        30,
        "Minutes without a request after which a parent's session ends, unless opened with "
        '"Se souvenir de moi" (0: no inactivity timeout; sessions still end after 12 hours).',
    )
    security_log: str = _setting(
        "PORTAIL_SECURITY_LOG",
        "",
        "File the security log's JSON lines are appended to (logins, links, changes, "
        "refusals, payment outcomes; docs/security.md). Empty: standard error.",
    )
    trace_plugins: bool = _setting(
        "PORTAIL_TRACE_PLUGINS", False, "Log every plugin hook call and its result."
    )
    smtp_host: str = _setting("SMTP_HOST", "127.0.0.1", "SMTP server host name.")
    smtp_port: int = _setting("SMTP_PORT", 25, "SMTP server port.")
    smtp_user: str = _setting("SMTP_USER", "", "SMTP user name (empty: no authentication).")
    smtp_password: str = _setting("SMTP_PASSWORD", "", "SMTP password.")
    smtp_starttls: bool = _setting("SMTP_STARTTLS", False, "Use STARTTLS on the SMTP connection.")
    smtp_ssl: bool = _setting("SMTP_SSL", False, "Use implicit TLS (SMTPS) on the connection.")
    mail_from: str = _setting(
        "MAIL_FROM", "Portail des factures <ne-pas-repondre@localhost>", "Sender of every e-mail."
    )
    outbox_interval: float = _setting(
        "PORTAIL_OUTBOX_INTERVAL",
        5.0,
        "Seconds between two looks at the e-mail outbox when nothing wakes the sender up.",
    )
    run_outbox_sender: bool = _setting(
        "PORTAIL_OUTBOX_SENDER",
        True,
        "Run the e-mail sender inside the web process (turn off to run it elsewhere).",
    )
    outbox_retention_days: int = _setting(
        "PORTAIL_OUTBOX_RETENTION_DAYS",
        30,
        "Days a sent e-mail stays in the outbox (recipient, subject, dates; its text is blanked "
        "once sent) before the hourly housekeeping deletes it.",
    )
    outbox_give_up_days: int = _setting(
        "PORTAIL_OUTBOX_GIVE_UP_DAYS",
        7,
        "Days the sender keeps retrying an e-mail the SMTP server does not accept (back-off "
        "capped at one hour) before marking it failed.",
    )
    payment_recheck_interval: float = _setting(
        "PORTAIL_PAYMENT_RECHECK_INTERVAL",
        20.0,
        "Seconds between two looks for online payments whose result must be asked again "
        "(0: never in this process). Of the processes sharing a database, one runs it.",
    )
    demo: bool = _setting(
        "PORTAIL_DEMO", False, "Demo mode: shows demo accounts and the demo mailbox page."
    )
    data_dir: str = _setting(
        "PORTAIL_DATA_DIR",
        "var",
        "Directory of the files the portal keeps (imported invoice PDFs under `pdfs/`).",
    )

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, dotenv: Path | None = None
    ) -> Settings:
        """Build settings from `environ` (default `os.environ`), falling back on a `.env` file."""
        env = dict(read_dotenv(dotenv or Path(".env")))
        env.update(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is not None:
                values[f.name] = _convert(raw, type(f.default), f.metadata["env"])
        if "trusted_proxy_hops" not in values and _deprecated_trust(env):
            logger.warning(
                "%s is deprecated: set PORTAIL_TRUSTED_PROXY_HOPS=1 instead (read as 1)",
                DEPRECATED_TRUST_PROXY_HEADERS,
            )
            values["trusted_proxy_hops"] = 1
        if values.get("trusted_proxy_hops", 0) < 0:
            raise ValueError("PORTAIL_TRUSTED_PROXY_HOPS: expected 0 or more")
        if values.get("session_idle_minutes", 0) < 0:
            raise ValueError("PORTAIL_SESSION_IDLE_MINUTES: expected 0 or more")
        settings = cls(**values)
        if not settings.secret_key:
            if not settings.debug and not settings.demo:
                raise ValueError(
                    "PORTAIL_SECRET_KEY must be set (or PORTAIL_DEBUG=1 for development)"
                )
            settings = replace(settings, secret_key=secrets.token_urlsafe(SECRET_KEY_MIN_LENGTH))
        if len(settings.secret_key) < SECRET_KEY_MIN_LENGTH:
            raise ValueError(
                f"PORTAIL_SECRET_KEY is too short ({len(settings.secret_key)} characters): "
                f"use at least {SECRET_KEY_MIN_LENGTH} random characters, for example the "
                "output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return settings

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def trust_proxy_headers(self) -> bool:
        """Whether a proxy of ours stands in front (uvicorn then reads X-Forwarded-Proto)."""
        return self.trusted_proxy_hops > 0

    @property
    def session_idle_timeout(self) -> dt.timedelta | None:
        """How long a parent's session (without "Se souvenir de moi") survives unused."""
        minutes = self.session_idle_minutes
        return dt.timedelta(minutes=minutes) if minutes else None

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def read_dotenv(path: Path) -> list[tuple[str, str]]:
    """The `KEY=value` lines of a `.env` file; comments and blank lines are skipped."""
    if not path.is_file():
        return []
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        pairs.append((key.strip(), value.strip().strip("'\"")))
    return pairs


def _deprecated_trust(env: dict[str, str]) -> bool:
    raw = env.get(DEPRECATED_TRUST_PROXY_HEADERS)
    return raw is not None and bool(_convert(raw, bool, DEPRECATED_TRUST_PROXY_HEADERS))


def _convert(raw: str, kind: type, name: str) -> Any:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(f"{name}: expected a boolean (1/0, true/false), got {raw!r}")
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}: expected {kind.__name__}, got {raw!r}") from None


@lru_cache
def get_settings() -> Settings:
    return Settings.from_env()


def documented_settings() -> list[tuple[str, Any, str]]:
    """(variable, default, help) for each setting, for the README and `portail settings`."""
    return [(f.metadata["env"], f.default, f.metadata["help"]) for f in fields(Settings)]
