"""Who is told about new invoices."""

from __future__ import annotations

from core.accounts.tables import Account
from core.alert_addresses.services import confirmed_addresses
from core.db_bulk import chunks


async def alert_recipients(account_ids: list[int]) -> dict[int, list[str]]:
    """The addresses that receive new-invoice alerts, for each account of `account_ids`.

    The account's own e-mail address first, then its confirmed alert addresses (extra
    addresses a parent adds in "Mes informations" and validates by a link; unconfirmed ones are
    never used), oldest first, without duplicates: the importer and any later notification ask
    this one function. Accounts without an address are left out. Runs in the caller's
    transaction, if any.
    """
    recipients: dict[int, list[str]] = {}
    for chunk in chunks(sorted(set(account_ids)), 5_000):
        rows = await Account.select(Account.id, Account.email).where(Account.id.is_in(chunk))
        extra = await confirmed_addresses(chunk)
        for row in rows:
            addresses = [row["email"], *extra.get(row["id"], [])]
            unique = list(dict.fromkeys(a for a in addresses if a))
            if unique:
                recipients[row["id"]] = unique
    return recipients
