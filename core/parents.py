"""What features around the parents' space (alert addresses, plugins) may do with an account
row without depending on `core.accounts`: lock it for a transaction, list its payers."""

from __future__ import annotations

from typing import Any

from core.accounts.tables import Account, AccountPayer


async def lock_account(account_id: int) -> str | None:
    """Lock the account's row until the transaction ends; its e-mail address (None if gone).

    A no-op write: on PostgreSQL it locks the row, so concurrent requests for one account run
    one after the other (SQLite's IMMEDIATE transactions already serialise writers).
    """
    rows = (
        await Account.update({Account.auth_version: Account.auth_version})
        .where(Account.id == account_id)
        .returning(Account.email)
    )
    return rows[0]["email"] if rows else None


async def account_payers(account_id: int) -> list[dict[str, Any]]:
    """The payers the account sees: `name` and `ref` (the billing software's reference)."""
    return await AccountPayer.select(
        AccountPayer.payer.name.as_alias("name"),
        AccountPayer.payer.external_ref.as_alias("ref"),
    ).where(AccountPayer.account == account_id)
