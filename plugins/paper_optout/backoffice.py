"""Dématérialisation, the back office's view of the paper opt-outs: who gave up paper invoices
and since when (a page at a time), and the CSV the billing software reads.

Everything is scoped by the commune through the account's commune; an account's payers come
from the core's `AccountPayer` table, named through a `LazyTableReference` (no plugin module
imports `core.accounts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from piccolo.columns.reference import LazyTableReference

from core.web.formatting import date as format_date
from plugins.paper_optout.tables import PaperPreference

PER_PAGE = 50
EXPORT_BATCH = 500
"""Accounts read per query while the CSV streams (the export never loads everything)."""
CSV_COLUMNS = ("reference", "nom", "email", "depuis")
# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@")

ACCOUNT_PAYER = LazyTableReference("AccountPayer", app_name="core")


@dataclass(frozen=True)
class Optout:
    """An account that gave up paper invoices, and the payers it sees."""

    account_id: int
    email: str
    since: dt.datetime
    payers: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class OptoutPage:
    rows: list[Optout]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def _optouts_of(commune_id: int) -> Any:
    """The one scope of every query here: opt-outs of `commune_id`'s accounts."""
    return (PaperPreference.account.commune == commune_id) & PaperPreference.paper_optout.eq(True)


async def optout_page(commune_id: int, page: int) -> OptoutPage:
    """One page of the commune's opt-outs, newest first."""
    total = await PaperPreference.count().where(_optouts_of(commune_id))
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    page = min(max(page, 1), pages)
    rows = (
        await PaperPreference.select(
            PaperPreference.account,
            PaperPreference.account.email.as_alias("email"),
            PaperPreference.changed_at,
        )
        .where(_optouts_of(commune_id))
        .order_by(PaperPreference.changed_at, ascending=False)
        .order_by(PaperPreference.id, ascending=False)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    return OptoutPage(rows=await _with_payers(commune_id, rows), total=total, page=page)


async def _with_payers(commune_id: int, rows: list[dict[str, Any]]) -> list[Optout]:
    if not rows:
        return []
    # Found by name (no import of the accounts package): its columns are unknown to mypy.
    account_payer: Any = ACCOUNT_PAYER.resolve()
    links = (
        await account_payer.select(
            account_payer.account,
            account_payer.payer.external_ref.as_alias("ref"),
            account_payer.payer.name.as_alias("name"),
        )
        .where(
            account_payer.account.is_in([row["account"] for row in rows])
            & (account_payer.payer.commune == commune_id)
        )
        .order_by(account_payer.payer.external_ref)
    )
    payers: dict[int, list[dict[str, str]]] = {}
    for link in links:
        payers.setdefault(link["account"], []).append({"ref": link["ref"], "name": link["name"]})
    return [
        Optout(
            account_id=row["account"],
            email=row["email"],
            since=row["changed_at"],
            payers=payers.get(row["account"], []),
        )
        for row in rows
    ]


async def all_optouts(commune_id: int, batch: int = EXPORT_BATCH) -> AsyncIterator[Optout]:
    """Every opt-out of the commune, oldest first, read `batch` accounts at a time (keyset on
    the row id, so rows changing meanwhile never shift a page)."""
    last_id = 0
    while True:
        rows = (
            await PaperPreference.select(
                PaperPreference.id,
                PaperPreference.account,
                PaperPreference.account.email.as_alias("email"),
                PaperPreference.changed_at,
            )
            .where(_optouts_of(commune_id) & (PaperPreference.id > last_id))
            .order_by(PaperPreference.id)
            .limit(batch)
        )
        if not rows:
            return
        for optout in await _with_payers(commune_id, rows):
            yield optout
        last_id = rows[-1]["id"]


def csv_cell(value: str) -> str:
    """A cell as the CSV holds it: neutralised against formulas, quoted when it must be."""
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    if any(c in value for c in ';"\r\n'):
        value = '"' + value.replace('"', '""') + '"'
    return value


def csv_line(cells: tuple[str, ...] | list[str]) -> str:
    return ";".join(csv_cell(cell) for cell in cells) + "\r\n"


async def export_csv(commune_id: int) -> AsyncIterator[bytes]:
    """The CSV for the billing software: UTF-8 with BOM, `;`, one line per payer (an account
    that sees no payer has no reference to give the billing software, so no line)."""
    yield ("\ufeff" + csv_line(CSV_COLUMNS)).encode("utf-8")
    async for optout in all_optouts(commune_id):
        lines = [
            csv_line([payer["ref"], payer["name"], optout.email, format_date(optout.since)])
            for payer in optout.payers
        ]
        if lines:
            yield "".join(lines).encode("utf-8")
