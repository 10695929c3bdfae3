"""A parent's message to the billing service: stored, e-mailed to the service, copied to the
parent, in one transaction (the two e-mails go through the outbox)."""

from __future__ import annotations

from dataclasses import dataclass

from babel.numbers import format_decimal

from core.accounts.tables import Account, AccountPayer
from core.clock import now
from core.communes.context import CommuneContext
from core.contact.tables import ContactMessage
from core.db import transaction
from core.i18n import t
from core.mail.addresses import normalise_email
from core.mail.mailer import Mailer
from core.security import throttle
from core.web.forms import Problems

NAME_MAX_LENGTH = 200
MESSAGE_MAX_LENGTH = 5_000
MESSAGE_MAX_LABEL = format_decimal(MESSAGE_MAX_LENGTH, locale="fr_FR")  # "5 000"
PER_ACCOUNT = throttle.Limit("contact-account", max_hits=10, window_seconds=60 * 60)


class ContactRateLimited(Exception):
    """Too many messages from one account; the message is for the parent."""

    def __init__(self) -> None:
        super().__init__(t("contact.rate_limited"))


@dataclass(frozen=True)
class Draft:
    """What the form shows: the parent's name and address, and the message."""

    name: str
    email: str
    message: str = ""


async def prefilled(account_id: int) -> Draft:
    """The account's address, and the name of the payer (débiteur) it is linked to."""
    account = await Account.select(Account.email).where(Account.id == account_id).first()
    payer = (
        await AccountPayer.select(AccountPayer.payer.name.as_alias("name"))
        .where(AccountPayer.account == account_id)
        .order_by(AccountPayer.id)
        .first()
    )
    return Draft(
        name=payer["name"] if payer else "",
        email=account["email"] if account else "",
    )


def _validate(raw_name: str, raw_email: str, raw_message: str) -> tuple[str, str, str]:
    problems = Problems()
    name = " ".join(raw_name.split())
    email = normalise_email(raw_email)
    message = raw_message.replace("\r\n", "\n").strip()
    if not name:
        problems.add("name", t("contact.name_missing"))
    elif len(name) > NAME_MAX_LENGTH:
        problems.add("name", t("contact.name_too_long", max=NAME_MAX_LENGTH))
    if not email:
        problems.add("email", t("accounts.email_invalid"))
    if not message:
        problems.add("message", t("contact.message_missing"))
    elif len(message) > MESSAGE_MAX_LENGTH:
        problems.add(
            "message",
            t("contact.message_too_long", max=MESSAGE_MAX_LABEL),
        )
    if problems.errors:
        raise problems
    return name, email, message


async def send_message(
    commune: CommuneContext,
    account_id: int,
    raw_name: str,
    raw_email: str,
    raw_message: str,
    mailer: Mailer,
) -> int:
    """Store the message and queue the service's e-mail and the parent's copy; returns its id.

    The copy goes to the account's own (verified) address, never to the one typed in the form,
    so the form cannot be used to send mail to strangers; the typed address is the one the
    service is asked to answer (the outbox has no Reply-To, so it is written in the body).
    """
    name, email, message = _validate(raw_name, raw_email, raw_message)
    if not await throttle.hit(str(account_id), PER_ACCOUNT):
        raise ContactRateLimited
    account = await Account.select(Account.email).where(Account.id == account_id).first()
    account_email = account["email"] if account else email
    sent_at = now()
    async with transaction():
        rows = await ContactMessage.insert(
            ContactMessage(
                commune=commune.id,
                account=account_id,
                name=name,
                email=email,
                body=message,
                created_at=sent_at,
            )
        ).returning(ContactMessage.id)
        context = {
            "name": name,
            "email": email,
            "account_email": account_email,
            "message": message,
            "sent_at": sent_at,
            "reference": rows[0]["id"],
        }
        await mailer.send(commune, "contact_service", commune.config.contact.email, **context)
        await mailer.send(commune, "contact_copy", account_email, **context)
    return int(rows[0]["id"])
