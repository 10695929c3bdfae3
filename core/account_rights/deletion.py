"""Supprimer mon compte: the account and what is only the account's go, in one transaction;
what belongs to the commune's accounting stays, without its link to a login.

Table by table (docs/rgpd.md says the same to the commune):

- deleted: `account`, `account_payer` (the links to payers), `account_token`, `web_session`,
  `alert_address`, `message_dismissal`, and each plugin's rows through the `account_deleted`
  hook (`paper_preference`, TIPI's `invoice_note`);
- kept, unlinked (`account` set to NULL): `payment_attempt` (the commune's record of online
  payments, with the receipt address PayFiP was given) and `contact_message` (the service's
  correspondence, which it may still have to answer);
- kept as they are: `payer`, `payer_email` and `invoice` (imported from the billing software:
  the address can activate an account again later) and the outbox's records of messages sent,
  which expire with the outbox's retention.

The billing service is told (which payers' account went) and the parent gets a confirmation,
both through the outbox in the same transaction.
"""

from __future__ import annotations

import inspect

from piccolo.columns import ForeignKey
from piccolo.table import Table

from core.accounts.services import check_current_password
from core.accounts.tables import Account, AccountPayer, AccountToken, WebSession
from core.alert_addresses.tables import AlertAddress
from core.announcements.tables import MessageDismissal
from core.clock import now
from core.communes.context import CommuneContext
from core.contact.tables import ContactMessage
from core.db import transaction
from core.i18n import t
from core.mail.mailer import Mailer
from core.parents import account_payers, lock_account
from core.payments.tables import PaymentAttempt
from core.web.forms import field_problem

# Rows that are only the account's: deleted with it (before it, for the foreign keys).
OWN_ROWS: tuple[tuple[type[Table], ForeignKey], ...] = (
    (AlertAddress, AlertAddress.account),
    (MessageDismissal, MessageDismissal.account),
    (AccountToken, AccountToken.account),
    (WebSession, WebSession.account),
    (AccountPayer, AccountPayer.account),
)
# The commune's records that named the account: kept, the link set to NULL.
UNLINKED_ROWS: tuple[tuple[type[Table], ForeignKey], ...] = (
    (PaymentAttempt, PaymentAttempt.account),
    (ContactMessage, ContactMessage.account),
)


async def delete_account(
    commune: CommuneContext, account_id: int, password: str, mailer: Mailer
) -> str:
    """Delete the account once its password is confirmed (`Problems` on the "password" field,
    `RateLimited` after too many wrong ones); returns the address it had."""
    if not password:
        raise field_problem("password", t("account_rights.password_missing"))
    account = (
        await Account.select(Account.id, Account.password_hash)
        .where((Account.id == account_id) & (Account.commune == commune.id))
        .first()
    )
    if account is None:  # the session was checked a moment ago; only a deletion gets here
        raise LookupError(f"account {account_id} vanished")
    await check_current_password(account, password, "password")
    async with transaction():
        email = await lock_account(account_id)
        if email is None:  # deleted by a concurrent request
            raise LookupError(f"account {account_id} vanished")
        payers = await account_payers(account_id)
        await _plugins_forget(commune, account_id)
        for table, column in UNLINKED_ROWS:
            await table.update({column: None}).where(column == account_id)
        for table, column in OWN_ROWS:
            await table.delete().where(column == account_id)
        await Account.delete().where(Account.id == account_id)
        moment = now()
        await mailer.send(
            commune,
            "account_deleted_service",
            commune.config.contact.email,
            account_email=email,
            payers=payers,
            deleted_at=moment,
        )
        await mailer.send(commune, "account_deleted", email, payers=payers, deleted_at=moment)
    return email


async def _plugins_forget(commune: CommuneContext, account_id: int) -> None:
    """Every plugin's `account_deleted` work, one after the other (one connection, the
    deletion's); when one fails, the works not started yet are closed, never run."""
    works = commune.hooks.all_plugins.account_deleted(commune=commune, account_id=account_id)
    try:
        for work in works:
            await work
    finally:
        for work in works:
            if inspect.iscoroutine(work):
                work.close()  # a no-op for those already awaited
