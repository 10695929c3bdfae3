"""Alert addresses: up to 3 extra addresses per account, told when new invoices are published.

An address is added unconfirmed and receives a link; it is used only once that link's page is
confirmed (a button, since mail scanners follow links). The token is stored hashed on the row:
single use, expiring, and gone with the address.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.alert_addresses.tables import AlertAddress
from core.clock import now
from core.communes.context import CommuneContext
from core.db import transaction
from core.i18n import t
from core.mail.addresses import normalise_email
from core.mail.mailer import Mailer
from core.parents import lock_account
from core.security import throttle
from core.security.tokens import digest, new_secret, row_by_secret
from core.web.forms import Problems, field_problem

MAX_PER_ACCOUNT = 3
CONFIRMATION_TTL = dt.timedelta(days=7)
# Each addition e-mails an address the parent typed: bounded, so the portal is no spam relay.
ADDITIONS_PER_ACCOUNT = throttle.Limit("alert-address-add", max_hits=10, window_seconds=86_400)


@dataclass(frozen=True)
class AlertAddressView:
    id: int
    email: str
    confirmed: bool
    expired: bool = False
    """Unconfirmed and its link has expired: "Renvoyer le lien" sends a new one."""


class AlertAddressNotFound(LookupError):
    """The address is not one of the account's (another's, or gone)."""


class AlertAddressRateLimited(Exception):
    def __init__(self) -> None:
        super().__init__(t("alerts.rate_limited"))


async def list_addresses(account_id: int) -> list[AlertAddressView]:
    rows = (
        await AlertAddress.select(
            AlertAddress.id,
            AlertAddress.email,
            AlertAddress.confirmed_at,
            AlertAddress.token_expires_at,
        )
        .where(AlertAddress.account == account_id)
        .order_by(AlertAddress.created_at)
        .order_by(AlertAddress.id)
    )
    moment = now()
    return [
        AlertAddressView(
            id=r["id"],
            email=r["email"],
            confirmed=r["confirmed_at"] is not None,
            expired=r["confirmed_at"] is None
            and (r["token_expires_at"] is None or r["token_expires_at"] <= moment),
        )
        for r in rows
    ]


async def add_address(
    commune: CommuneContext, account_id: int, raw_email: str, mailer: Mailer
) -> str:
    """Add an unconfirmed address and mail it a confirmation link; returns the address."""
    email = normalise_email(raw_email)
    if not email:
        raise _problem(t("accounts.email_invalid"))
    if not await throttle.hit(str(account_id), ADDITIONS_PER_ACCOUNT):
        raise AlertAddressRateLimited
    secret = new_secret()
    created = now()
    async with transaction():
        # Two concurrent additions for one account are counted one after the other.
        account_email = await lock_account(account_id)
        if account_email == email:
            raise _problem(t("alerts.is_account_email"))
        existing = await AlertAddress.select(AlertAddress.email).where(
            AlertAddress.account == account_id
        )
        if any(row["email"] == email for row in existing):
            raise _problem(t("alerts.duplicate"))
        if len(existing) >= MAX_PER_ACCOUNT:
            raise _problem(t("alerts.too_many", max=MAX_PER_ACCOUNT))
        await AlertAddress.insert(
            AlertAddress(
                account=account_id,
                email=email,
                token_hash=digest(secret),
                token_expires_at=created + CONFIRMATION_TTL,
                confirmed_at=None,
                created_at=created,
            )
        )
        await _send_link(commune, mailer, email, account_email or "", secret)
    return email


async def resend_link(
    commune: CommuneContext, account_id: int, address_id: int, mailer: Mailer
) -> str | None:
    """A new confirmation link for one of the account's unconfirmed addresses (the old link
    stops working); returns the address, or None if it is already confirmed. Raises
    `AlertAddressNotFound` for an address that is not the account's. Counted with the
    additions: each one e-mails an address the parent typed."""
    if not await throttle.hit(str(account_id), ADDITIONS_PER_ACCOUNT):
        raise AlertAddressRateLimited
    secret = new_secret()
    async with transaction():
        account_email = await lock_account(account_id)
        rows = (
            await AlertAddress.update(
                {
                    AlertAddress.token_hash: digest(secret),
                    AlertAddress.token_expires_at: now() + CONFIRMATION_TTL,
                }
            )
            .where(
                (AlertAddress.id == address_id)
                & (AlertAddress.account == account_id)
                & AlertAddress.confirmed_at.is_null()
            )
            .returning(AlertAddress.email)
        )
        if not rows:
            theirs = await AlertAddress.exists().where(
                (AlertAddress.id == address_id) & (AlertAddress.account == account_id)
            )
            if not theirs:
                raise AlertAddressNotFound
            return None
        email = str(rows[0]["email"])
        await _send_link(commune, mailer, email, account_email or "", secret)
    return email


async def _send_link(
    commune: CommuneContext, mailer: Mailer, email: str, account_email: str, secret: str
) -> None:
    await mailer.send(
        commune,
        "alert_address_confirm",
        email,
        account_email=account_email,
        link=mailer.link(commune, f"alerte/{secret}"),
        days=CONFIRMATION_TTL.days,
    )


async def remove_address(account_id: int, address_id: int) -> str | None:
    """Remove one of the account's addresses; returns it, or None if it is not theirs."""
    async with transaction():
        rows = (
            await AlertAddress.delete()
            .where((AlertAddress.id == address_id) & (AlertAddress.account == account_id))
            .returning(AlertAddress.email)
        )
    return rows[0]["email"] if rows else None


async def pending_confirmation(commune: CommuneContext, secret: str) -> dict | None:
    """The unconfirmed address behind a link of `commune`, if the link is still valid."""
    row = await row_by_secret(
        AlertAddress.token_hash,
        secret,
        AlertAddress.id,
        AlertAddress.email,
        AlertAddress.token_expires_at,
        AlertAddress.confirmed_at,
        AlertAddress.account.email.as_alias("account_email"),
        AlertAddress.account.commune.as_alias("commune_id"),
        AlertAddress.account.state.as_alias("state"),
    )
    if (
        row is None
        or row["commune_id"] != commune.id
        or row["confirmed_at"] is not None
        or row["token_expires_at"] is None
        or row["token_expires_at"] <= now()
        or row["state"] != "active"
    ):
        return None
    return row


async def confirm(commune: CommuneContext, secret: str) -> str | None:
    """Confirm the address behind the link (single use); returns it, or None if invalid."""
    row = await pending_confirmation(commune, secret)
    if row is None:
        return None
    async with transaction():
        done = (
            await AlertAddress.update(
                {
                    AlertAddress.confirmed_at: now(),
                    AlertAddress.token_hash: None,
                    AlertAddress.token_expires_at: None,
                }
            )
            .where(
                (AlertAddress.id == row["id"])
                & (AlertAddress.token_hash == digest(secret))
                & AlertAddress.confirmed_at.is_null()
            )
            .returning(AlertAddress.email)
        )
    return done[0]["email"] if done else None


async def confirmed_addresses(account_ids: list[int]) -> dict[int, list[str]]:
    """Account id -> its confirmed alert addresses, oldest first (for the new-invoice alerts)."""
    found: dict[int, list[str]] = {}
    if not account_ids:
        return found
    rows = (
        await AlertAddress.select(AlertAddress.account, AlertAddress.email)
        .where(AlertAddress.account.is_in(account_ids) & AlertAddress.confirmed_at.is_not_null())
        .order_by(AlertAddress.created_at)
        .order_by(AlertAddress.id)
    )
    for row in rows:
        found.setdefault(row["account"], []).append(row["email"])
    return found


def _problem(message: str) -> Problems:
    return field_problem("alert_email", message)
