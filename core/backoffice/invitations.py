"""Inviter les familles: e-mail every payer address without an account an activation link.

An invitation is the parents' activation e-mail in another wording (`mail/invitation.txt`, "Votre
portail des factures est ouvert"): a pending account per address (created if needed) and a
single-use activation token, whose link leads to the same activation page. An address is
invited once per `invitation_delay_days` of the commune (the `invitation` table remembers).

Thousands of addresses go in one transaction with a few statements: pending accounts, tokens,
e-mails (`core.mail.bulk.enqueue_many`) and invitation rows are each written by one batched
insert, and the journal gets one entry for the whole sending.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core import db_bulk
from core.backoffice import journal
from core.backoffice.journal import Actor
from core.backoffice.tables import Invitation
from core.clock import now
from core.communes.context import CommuneContext
from core.communes.tables import Regie
from core.db import transaction
from core.invoices.tables import TO_PAY
from core.mail.bulk import EmailTemplate, Message, enqueue_many
from core.mail.mailer import Mailer
from core.security.tokens import digest, new_secret

TEMPLATE = "invitation"
INVITATION_TTL = dt.timedelta(days=7)
"""How long an invitation's link works: longer than an activation request's 48 hours, since
families did not ask for it and may read it days later."""


@dataclass(frozen=True)
class Target:
    """Which payers' addresses to invite: of one régie's invoices, only with invoices to pay."""

    regie_id: int | None = None
    to_pay_only: bool = False


@dataclass(frozen=True)
class Counts:
    eligible: int  # addresses of payers with no account, or a pending one
    recent: int  # of them, invited within the delay


@dataclass(frozen=True)
class Outcome:
    invited: int
    skipped: int


def _cutoff(commune: CommuneContext) -> dt.datetime:
    return now() - dt.timedelta(days=commune.config.invitation_delay_days)


def _addresses_sql(target: Target) -> tuple[str, list[Any]]:
    """SELECT of the distinct addresses to invite (no account, or a pending one), with its
    arguments after the commune's id (twice). `?` placeholders, for `db_bulk`."""
    sql = (
        'SELECT DISTINCT pe."email" FROM "payer_email" pe WHERE pe."commune" = ? '
        'AND NOT EXISTS (SELECT 1 FROM "account" a WHERE a."commune" = ? '
        'AND a."email" = pe."email" AND a."state" <> \'pending\')'
    )
    args: list[Any] = []
    if target.regie_id is not None or target.to_pay_only:
        sql += ' AND EXISTS (SELECT 1 FROM "invoice" i WHERE i."payer" = pe."payer"'
        if target.regie_id is not None:
            sql += ' AND i."regie" = ?'
            args.append(target.regie_id)
        if target.to_pay_only:
            sql += ' AND i."status" = ? AND i."amount_cents" > i."paid_cents"'
            args.append(TO_PAY)
        sql += ")"
    return sql, args


async def regie_id(commune_id: int, code: str) -> int | None:
    """The id of the commune's régie `code` (None for "" or an unknown code)."""
    if not code:
        return None
    row = (
        await Regie.select(Regie.id)
        .where((Regie.commune == commune_id) & (Regie.code == code))
        .first()
    )
    return int(row["id"]) if row else None


async def counts(commune: CommuneContext, target: Target | None = None) -> Counts:
    """How many addresses the form would reach, and how many of them it would skip."""
    sql, args = _addresses_sql(target or Target())
    recent_sql = (
        f"SELECT COUNT(*) AS n FROM ({sql}) t WHERE EXISTS "  # noqa: S608 -- constant SQL
        '(SELECT 1 FROM "invitation" v WHERE v."commune" = ? AND v."email" = t."email" '
        'AND v."sent_at" > ?)'
    )
    base = [commune.id, commune.id, *args]
    # Piccolo's raw queries read on the read connection; `{}` are its placeholders.
    total = await Invitation.raw(f"SELECT COUNT(*) AS n FROM ({sql}) t".replace("?", "{}"), *base)  # noqa: S608
    recent = await Invitation.raw(
        recent_sql.replace("?", "{}"), *base, commune.id, _cutoff(commune)
    )
    return Counts(int(total[0]["n"]), int(recent[0]["n"]))


async def invite(commune: CommuneContext, target: Target, mailer: Mailer, actor: Actor) -> Outcome:
    """Invite every address of `target` not invited within the delay, in one transaction."""
    sql, args = _addresses_sql(target)
    cutoff = _cutoff(commune)
    async with transaction():
        addresses = [
            row[0] for row in await db_bulk.fetch_tuples(sql, [commune.id, commune.id, *args])
        ]
        recent = {
            row[0]
            for row in await db_bulk.fetch_tuples(
                'SELECT DISTINCT "email" FROM "invitation" WHERE "commune" = ? AND "sent_at" > ?',
                [commune.id, cutoff],
            )
        }
        to_invite = sorted(a for a in addresses if a not in recent)
        accounts = await _pending_accounts(commune.id, to_invite)
        secrets = await _tokens(accounts)
        template = EmailTemplate(mailer.env, TEMPLATE)
        context = {"commune": commune.config, "base_url": mailer.base_url}
        messages = []
        for email in to_invite:
            link = mailer.link(commune, f"activation/{secrets[email]}")
            rendered = template.render(**context, link=link, valid_days=INVITATION_TTL.days)
            messages.append(Message(email, rendered.subject, rendered.text, rendered.html))
        await enqueue_many(messages, commune_id=commune.id)
        sent_at = now()
        await db_bulk.insert_many(
            "invitation",
            ("commune", "email", "sent_at", "agent"),
            [(commune.id, email, sent_at, actor.agent_id) for email in to_invite],
        )
        outcome = Outcome(invited=len(to_invite), skipped=len(addresses) - len(to_invite))
        await journal.record(
            "families.invite",
            actor,
            commune_id=commune.id,
            after={
                "invited": outcome.invited,
                "skipped": outcome.skipped,
                "regie": target.regie_id,
                "to_pay_only": target.to_pay_only,
            },
        )
    return outcome


async def _pending_accounts(commune_id: int, emails: list[str]) -> dict[str, int]:
    """Each address's pending account, created where there is none (in bulk)."""
    found = await _account_ids(commune_id, emails)
    missing = [email for email in emails if email not in found]
    if missing:
        created = now()
        await db_bulk.insert_many(
            "account",
            ("commune", "email", "password_hash", "state", "auth_version", "created_at"),
            [(commune_id, email, "", "pending", 1, created) for email in missing],
        )
        found.update(await _account_ids(commune_id, missing))
    return found


async def _account_ids(commune_id: int, emails: list[str]) -> dict[str, int]:
    rows = await db_bulk.fetch_in(
        'SELECT "id", "email" FROM "account" WHERE "commune" = ? AND "email" IN ({in})',
        emails,
        before=[commune_id],
    )
    return {row["email"]: int(row["id"]) for row in rows}


async def _tokens(accounts: dict[str, int]) -> dict[str, str]:
    """A new activation token per account (as `core.accounts.services._new_token`, in bulk);
    the secrets by address."""
    created = now()
    secrets = {email: new_secret() for email in accounts}
    await db_bulk.insert_many(
        "account_token",
        ("account", "purpose", "token_hash", "new_email", "created_at", "expires_at", "used_at"),
        [
            (
                account_id,
                "activation",
                digest(secrets[email]),
                "",
                created,
                created + INVITATION_TTL,
                None,
            )
            for email, account_id in accounts.items()
        ],
    )
    return secrets


async def last_invitations(commune_id: int, emails: list[str]) -> dict[str, dt.datetime]:
    """When each address was last invited (for a family's page)."""
    if not emails:
        return {}
    rows = await Invitation.select(Invitation.email, Invitation.sent_at).where(
        (Invitation.commune == commune_id) & Invitation.email.is_in(emails)
    )
    last: dict[str, dt.datetime] = {}
    for row in rows:
        if row["email"] not in last or row["sent_at"] > last[row["email"]]:
            last[row["email"]] = row["sent_at"]
    return last
