"""Comparing the file with the database, and writing the difference.

Each step reads first and decides (what a dry run stops at), then writes in the caller's
transaction: payers upserted by reference (name updated, new e-mail addresses added, none
removed), new addresses linked to the commune's accounts with those addresses, invoices
upserted by number (invoices absent from the file are left alone).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from core import db_bulk
from core.accounts.names import search_name
from core.invoices.importer.parsing import InvoiceLine, ParsedFile
from core.invoices.importer.pdfs import StagedPdfs
from core.invoices.importer.report import ImportReport

INVOICE_FIELDS = (
    "regie",
    "payer",
    "payment_reference",
    "object",
    "issued_on",
    "due_on",
    "amount_cents",
    "paid_cents",
    "status",
    "paid_on",
    "payment_mode",
    "authorisation_number",
    "direct_debit",
    "debit_on",
    "pdf_path",
)
_INTEGER_FIELDS = frozenset({"regie", "payer", "amount_cents", "paid_cents", "direct_debit"})
DATE_FIELDS = frozenset({"issued_on", "due_on", "paid_on", "debit_on"})
_QUOTED_FIELDS = ", ".join(f'"{f}"' for f in INVOICE_FIELDS)
SELECT_INVOICES = (
    f'SELECT "id", "number", {_QUOTED_FIELDS} FROM "invoice" '  # noqa: S608 (constant names)
    'WHERE "commune" = ? AND "number" IN ({in})'
)
# On SQLite, expressions have no declared type, so the values skip Piccolo's converters (a
# Python call per value, most of the cost of reading 100,000 rows): integers come back as
# ints, booleans as 0/1 and dates as ISO text, which `_compare_invoices` turns into dates.
_SQLITE_FIELDS = ", ".join(
    f'CAST("{f}" AS TEXT)'
    if f in DATE_FIELDS
    else f'"{f}" + 0'
    if f in _INTEGER_FIELDS
    else f'"{f}"'
    for f in INVOICE_FIELDS
)
SELECT_INVOICES_SQLITE = (
    f'SELECT "id" + 0, "number", {_SQLITE_FIELDS} FROM "invoice" '  # noqa: S608
    'WHERE "commune" = ? AND "number" IN ({in})'
)
_DATE_POSITIONS = tuple(2 + i for i, f in enumerate(INVOICE_FIELDS) if f in DATE_FIELDS)
UPDATE_INVOICE = (
    'UPDATE "invoice" SET '  # noqa: S608 (constant names)
    + ", ".join(f'"{f}" = ?' for f in INVOICE_FIELDS)
    + ', "updated_at" = ? WHERE "id" = ?'
)
INSERT_INVOICE_COLUMNS = ("commune", "number", *INVOICE_FIELDS, "published_at", "updated_at")

# PostgreSQL: tables are analyzed after an import that added this many rows.
ANALYZE_THRESHOLD = 1_000


async def refresh_statistics(report: ImportReport) -> None:
    """PostgreSQL: ANALYZE the tables a large import grew, in its transaction.

    Until autovacuum gets to them, the planner would take a table of 100,000 fresh rows for a
    small one, and filter the next import's `number = ANY(…)` lookups row by row against the
    whole list (minutes instead of a tenth of a second).
    """
    if not db_bulk.is_postgres():
        return
    tables = []
    if report.created >= ANALYZE_THRESHOLD:
        tables.append("invoice")
    if report.payers_created >= ANALYZE_THRESHOLD:
        tables += ["payer", "payer_email"]
    if tables:
        await db_bulk.execute(f"ANALYZE {', '.join(tables)}")


# --- Payers -----------------------------------------------------------------------------------


@dataclass
class PayerPlan:
    """What the file changes in the commune's payers."""

    ids: dict[str, int]  # the known payers' ids by reference
    renamed: list[tuple[str, int]]  # (new name, payer id)
    new_refs: list[str]
    added: list[tuple[str, str]]  # (payer reference, new address), in the file's order

    def resolve(self, new_ids: dict[str, int]) -> tuple[dict[str, int], list[tuple[int, str]]]:
        """Payer ids by reference, the new ones from `new_ids`; the (payer id, address) pairs
        added."""
        ids = {**self.ids, **new_ids}
        return ids, [(ids[ref], email) for ref, email in self.added]

    def placeholder_ids(self) -> dict[str, int]:
        """Ids for the payers a dry run does not create: negative, so never a real one."""
        return {ref: -n for n, ref in enumerate(self.new_refs, start=1)}


async def plan_payers(commune_id: int, parsed: ParsedFile) -> PayerPlan:
    """Read the file's payers already stored, and their addresses."""
    refs = list(parsed.payers)
    existing = await db_bulk.fetch_in(
        'SELECT "id", "external_ref", "name" FROM "payer" '
        'WHERE "commune" = ? AND "external_ref" IN ({in})',
        refs,
        before=[commune_id],
    )
    ids = {row["external_ref"]: row["id"] for row in existing}
    renamed = [
        (parsed.payers[row["external_ref"]].name, row["id"])
        for row in existing
        if parsed.payers[row["external_ref"]].name != row["name"]
    ]
    known = {
        (row["payer"], row["email"])
        for row in await db_bulk.fetch_in(
            'SELECT "payer", "email" FROM "payer_email" WHERE "payer" IN ({in})', list(ids.values())
        )
    }
    added = [
        (ref, email)
        for ref, payer in parsed.payers.items()
        for email in payer.emails
        if ref not in ids or (ids[ref], email) not in known
    ]
    return PayerPlan(ids, renamed, [ref for ref in refs if ref not in ids], added)


async def write_payers(
    commune_id: int, parsed: ParsedFile, plan: PayerPlan
) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """Rename, create, add addresses: payer ids by reference, and the (payer id, address)
    pairs added."""
    await db_bulk.executemany(
        'UPDATE "payer" SET "name" = ?, "search_name" = ? WHERE "id" = ?',
        [(name, search_name(name), payer_id) for name, payer_id in plan.renamed],
    )
    new_ids: dict[str, int] = {}
    if plan.new_refs:
        await db_bulk.insert_many(
            "payer",
            ("commune", "external_ref", "name", "search_name"),
            [
                (commune_id, ref, parsed.payers[ref].name, search_name(parsed.payers[ref].name))
                for ref in plan.new_refs
            ],
        )
        for row in await db_bulk.fetch_in(
            'SELECT "id", "external_ref" FROM "payer" '
            'WHERE "commune" = ? AND "external_ref" IN ({in})',
            plan.new_refs,
            before=[commune_id],
        ):
            new_ids[row["external_ref"]] = row["id"]
    ids, added = plan.resolve(new_ids)
    await db_bulk.insert_many(
        "payer_email",
        ("commune", "payer", "email"),
        [(commune_id, payer_id, email) for payer_id, email in added],
    )
    return ids, added


# --- Accounts ---------------------------------------------------------------------------------


async def links_to_add(commune_id: int, added: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """The (account id, payer id) links that let the commune's accounts see the payers that
    now list their address.

    The bulk form of `core.accounts.services.link_payers` (which activation and e-mail changes
    call for one account): same rule, one query per thousands of addresses.
    """
    if not added:
        return []
    accounts_by_email: dict[str, list[int]] = defaultdict(list)
    for row in await db_bulk.fetch_in(
        'SELECT "id", "email" FROM "account" WHERE "commune" = ? AND "email" IN ({in})',
        sorted({email for _, email in added}),
        before=[commune_id],
    ):
        accounts_by_email[row["email"]].append(row["id"])
    wanted = {
        (account_id, payer_id)
        for payer_id, email in added
        for account_id in accounts_by_email.get(email, ())
    }
    if not wanted:
        return []
    linked = {
        (row["account"], row["payer"])
        for row in await db_bulk.fetch_in(
            'SELECT "account", "payer" FROM "account_payer" WHERE "account" IN ({in})',
            sorted({account_id for account_id, _ in wanted}),
        )
    }
    return sorted(wanted - linked)


async def write_links(links: list[tuple[int, int]]) -> None:
    await db_bulk.insert_many("account_payer", ("account", "payer"), links)


# --- Invoices ---------------------------------------------------------------------------------


@dataclass
class InvoicePlan:
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    unchanged: int = 0
    pdfs_attached: int = 0
    new_by_payer: dict[int, list[InvoiceLine]] = field(default_factory=lambda: defaultdict(list))

    def count(self, report: ImportReport) -> None:
        """Put the plan's counts in `report`."""
        report.created, report.updated = len(self.inserts), len(self.updates)
        report.unchanged, report.pdfs_attached = self.unchanged, self.pdfs_attached


async def plan_invoices(
    commune_id: int, parsed: ParsedFile, payer_ids: dict[str, int], staged: StagedPdfs
) -> InvoicePlan:
    """Read the file's invoices already stored and decide what to insert and update."""
    select = SELECT_INVOICES if db_bulk.is_postgres() else SELECT_INVOICES_SQLITE
    rows = await db_bulk.fetch_in_tuples(
        select, [line.number for line in parsed.lines], before=[commune_id]
    )
    return await asyncio.to_thread(_compare_invoices, commune_id, parsed, payer_ids, rows, staged)


async def write_invoices(plan: InvoicePlan, report: ImportReport) -> None:
    await db_bulk.insert_many("invoice", INSERT_INVOICE_COLUMNS, plan.inserts)
    await db_bulk.executemany(UPDATE_INVOICE, plan.updates)
    plan.count(report)


def _with_dates(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """`row` with its ISO text dates (SQLite, see SELECT_INVOICES_SQLITE) as dates."""
    if not any(isinstance(row[i], str) for i in _DATE_POSITIONS):
        return row
    values = list(row)
    for i in _DATE_POSITIONS:
        if isinstance(values[i], str):
            values[i] = _iso_date(values[i])
    return tuple(values)


@lru_cache(maxsize=4096)
def _iso_date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _compare_invoices(
    commune_id: int,
    parsed: ParsedFile,
    payer_ids: dict[str, int],
    rows: list[tuple[Any, ...]],
    staged: StagedPdfs,
) -> InvoicePlan:
    """Compare the file with the stored invoices (rows of SELECT_INVOICES): what to write."""
    existing = {row[1]: _with_dates(row) for row in rows}
    pdf_index = 2 + INVOICE_FIELDS.index("pdf_path")
    now = dt.datetime.now(dt.UTC)
    plan = InvoicePlan()
    inserts, updates, new_by_payer = plan.inserts, plan.updates, plan.new_by_payer
    pdf_paths, copied = staged.paths, staged.copied
    for line in parsed.lines:
        payer_id = payer_ids[line.payer_ref]
        row = existing.get(line.number)
        pdf_path = pdf_paths.get(line.number)
        if pdf_path is None:
            pdf_path = row[pdf_index] if row is not None else ""
        values = (
            line.regie_id,
            payer_id,
            line.payment_reference,
            line.object,
            line.issued_on,
            line.due_on,
            line.amount_cents,
            line.paid_cents,
            line.status,
            line.paid_on,
            line.payment_mode,
            line.authorisation_number,
            line.direct_debit,
            line.debit_on,
            pdf_path,
        )
        if row is None:
            inserts.append((commune_id, line.number, *values, now, now))
            new_by_payer[payer_id].append(line)
            if pdf_path:
                plan.pdfs_attached += 1
            continue
        if pdf_path and (line.number in copied or row[pdf_index] != pdf_path):
            plan.pdfs_attached += 1
        if values == row[2:]:
            plan.unchanged += 1
        else:
            updates.append((*values, now, row[0]))
    return plan
