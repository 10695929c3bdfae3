"""API keys: how a commune's billing software authenticates (imports through the API).

A key is `pdf_` and 32 random bytes (URL-safe), shown once at creation; only its SHA-256 is
stored, so a lookup by hash is the comparison (no timing to learn from). Lists show the first
characters (`prefix`) to tell keys apart. Creating and revoking are journalled.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from core.backoffice import journal
from core.backoffice.identity import AgentInfo, NotAllowed
from core.backoffice.roles import can
from core.backoffice.tables import ApiKey
from core.clock import now
from core.db import transaction
from core.i18n import t
from core.security.tokens import digest
from core.web.forms import Problems

KEY_PREFIX = "pdf_"
PREFIX_LENGTH = 8
LABEL_MAX_LENGTH = 100
KEY_MAX_LENGTH = 100
LAST_USED_EVERY = dt.timedelta(minutes=1)
"""`last_used_at` is written at most this often."""


@dataclass(frozen=True)
class ApiKeyInfo:
    id: int
    commune_id: int
    label: str
    prefix: str
    created_by: int | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


async def create_api_key(
    commune_id: int, label: str, agent: AgentInfo, client_ip: str = ""
) -> tuple[ApiKeyInfo, str]:
    """A new key for `commune_id`; returns it and the plain key, to show once. Raises
    `NotAllowed` or `Problems`."""
    _check(agent, commune_id)
    name = " ".join(label.split())
    if not name:
        raise _problem(t("backoffice.api_keys.label_missing"))
    if len(name) > LABEL_MAX_LENGTH:
        raise _problem(t("backoffice.api_keys.label_too_long", max=LABEL_MAX_LENGTH))
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    async with transaction():
        rows = await ApiKey.insert(
            ApiKey(
                commune=commune_id,
                label=name,
                key_hash=digest(plain),
                prefix=plain[:PREFIX_LENGTH],
                created_by=agent.id,
                created_at=now(),
            )
        ).returning(*_COLUMNS)
        await journal.record(
            "api_keys.create",
            agent.actor(client_ip),
            commune_id=commune_id,
            target=name,
            after={"label": name, "prefix": plain[:PREFIX_LENGTH]},
        )
    return _info(rows[0]), plain


async def verify_api_key(commune_id: int, presented: str) -> ApiKeyInfo | None:
    """The active key of `commune_id` that `presented` is, or None; notes its use."""
    if not presented.startswith(KEY_PREFIX) or len(presented) > KEY_MAX_LENGTH:
        return None
    row = (
        await ApiKey.select(*_COLUMNS)
        .where(
            (ApiKey.key_hash == digest(presented))
            & (ApiKey.commune == commune_id)
            & ApiKey.revoked_at.is_null()
        )
        .first()
    )
    if row is None:
        return None
    instant = now()
    if row["last_used_at"] is None or row["last_used_at"] + LAST_USED_EVERY <= instant:
        async with transaction():
            await ApiKey.update({ApiKey.last_used_at: instant}).where(ApiKey.id == row["id"])
        row = {**row, "last_used_at": instant}
    return _info(row)


async def revoke_api_key(
    commune_id: int, key_id: int, agent: AgentInfo, client_ip: str = ""
) -> bool:
    """Revoke a key of `commune_id` for good; False when there is no such active key."""
    _check(agent, commune_id)
    async with transaction():
        rows = (
            await ApiKey.update({ApiKey.revoked_at: now()})
            .where(
                (ApiKey.id == key_id) & (ApiKey.commune == commune_id) & ApiKey.revoked_at.is_null()
            )
            .returning(ApiKey.label, ApiKey.prefix)
        )
        if rows:
            await journal.record(
                "api_keys.revoke",
                agent.actor(client_ip),
                commune_id=commune_id,
                target=rows[0]["label"],
                before={"label": rows[0]["label"], "prefix": rows[0]["prefix"]},
            )
    return bool(rows)


async def list_api_keys(commune_id: int) -> list[ApiKeyInfo]:
    """The commune's keys, active and revoked, newest first."""
    rows = (
        await ApiKey.select(*_COLUMNS)
        .where(ApiKey.commune == commune_id)
        .order_by(ApiKey.created_at, ascending=False)
    )
    return [_info(row) for row in rows]


_COLUMNS = (
    ApiKey.id,
    ApiKey.commune,
    ApiKey.label,
    ApiKey.prefix,
    ApiKey.created_by,
    ApiKey.created_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
)


def _info(row: dict[str, Any]) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row["id"],
        commune_id=row["commune"],
        label=row["label"],
        prefix=row["prefix"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def _check(agent: AgentInfo, commune_id: int) -> None:
    if not (can(agent, "api_keys.manage") and agent.works_in(commune_id)):
        raise NotAllowed


def _problem(message: str) -> Problems:
    problems = Problems()
    problems.add("label", message)
    return problems
