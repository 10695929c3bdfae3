"""Exports of the invoices settled online, for the commune's accounting: CSV and XLSX.

One line per invoice an online payment settled, read in batches of `BATCH_SIZE` rows by keyset
pagination (`id > last id`), so a 100,000-line export never holds more than one batch: the CSV is
streamed as it is read; the XLSX is written by xlsxwriter in `constant_memory` mode to a
temporary file, then streamed. A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage
return is prefixed with `'`, so a spreadsheet never runs a payer's name as a formula.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from core.backoffice import journal
from core.backoffice.identity import AgentInfo
from core.backoffice.payments import day_start
from core.db import as_aware, transaction
from core.i18n import t
from core.payments.tables import PAID, PaymentAttemptInvoice
from core.web.formatting import TIMEZONE

BATCH_SIZE = 1000
CHUNK_BYTES = 64 * 1024
COLUMNS = (
    "regie",
    "numcli",
    "invoice",
    "payer",
    "payer_ref",
    "amount",
    "date",
    "mode",
    "authorisation",
    "idop",
    "refdet",
)
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_LINK = PaymentAttemptInvoice.attempt


def neutralise(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(_DANGEROUS) else value


def header() -> list[str]:
    return [t(f"backoffice.exports.columns.{name}") for name in COLUMNS]


def euros(cents: int) -> str:
    """Cents as a French decimal: 24311 -> "243,11" (no thousands separator, no symbol)."""
    return f"{cents // 100},{cents % 100:02d}"


def _where(commune_id: int, from_day: dt.date | None, to_day: dt.date | None) -> Any:
    where = (
        (_LINK.commune == commune_id)
        & (_LINK.state == PAID)
        & (PaymentAttemptInvoice.settled == True)  # noqa: E712 - a SQL condition
    )
    if from_day is not None:
        where &= _LINK.paid_at >= day_start(from_day)
    if to_day is not None:
        where &= _LINK.paid_at < day_start(to_day + dt.timedelta(days=1))
    return where


async def batch_after(
    commune_id: int, from_day: dt.date | None, to_day: dt.date | None, last_id: int
) -> list[dict[str, Any]]:
    """The next `BATCH_SIZE` settled invoices of the commune after `last_id` (one query)."""
    return await (
        PaymentAttemptInvoice.select(
            PaymentAttemptInvoice.id,
            PaymentAttemptInvoice.amount_cents,
            PaymentAttemptInvoice.invoice.number.as_alias("number"),
            PaymentAttemptInvoice.invoice._.payer._.name.as_alias("payer"),
            PaymentAttemptInvoice.invoice._.payer._.external_ref.as_alias("payer_ref"),
            _LINK._.regie._.code.as_alias("regie"),
            _LINK._.regie._.client_number.as_alias("numcli"),
            _LINK.paid_at.as_alias("paid_at"),
            _LINK.result_code.as_alias("result_code"),
            _LINK.authorisation_number.as_alias("authorisation"),
            _LINK.provider_reference.as_alias("idop"),
            _LINK.refdet.as_alias("refdet"),
        )
        .where(_where(commune_id, from_day, to_day) & (PaymentAttemptInvoice.id > last_id))
        .order_by(PaymentAttemptInvoice.id)
        .limit(BATCH_SIZE)
    )


def _line(row: dict[str, Any]) -> list[str]:
    paid_at = as_aware(row["paid_at"])
    mode = "direct_debit" if row["result_code"] in {"V", "Z"} else "card"
    cells = [
        row["regie"] or "",
        row["numcli"] or "",
        row["number"] or "",
        row["payer"] or "",
        row["payer_ref"] or "",
        euros(int(row["amount_cents"])),
        paid_at.astimezone(TIMEZONE).strftime("%d/%m/%Y") if paid_at else "",
        t(f"payments.mode.{mode}"),
        row["authorisation"] or "",
        row["idop"] or "",
        row["refdet"] or "",
    ]
    return [neutralise(str(cell)) for cell in cells]


async def settled_lines(
    commune_id: int, from_day: dt.date | None, to_day: dt.date | None
) -> AsyncIterator[list[list[str]]]:
    """The export's lines, one batch (one query) at a time."""
    last_id = 0
    while True:
        rows = await batch_after(commune_id, from_day, to_day, last_id)
        if not rows:
            return
        yield [_line(row) for row in rows]
        if len(rows) < BATCH_SIZE:
            return
        last_id = int(rows[-1]["id"])


async def csv_chunks(
    commune_id: int, from_day: dt.date | None, to_day: dt.date | None
) -> AsyncIterator[bytes]:
    """The CSV, UTF-8 with a BOM (so a spreadsheet reads the accents), `;`-separated."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header())
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    async for lines in settled_lines(commune_id, from_day, to_day):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(lines)
        yield buffer.getvalue().encode("utf-8")


async def xlsx_file(commune_id: int, from_day: dt.date | None, to_day: dt.date | None) -> Path:
    """The XLSX written to a temporary file (the caller streams it, then removes it)."""
    handle, name = tempfile.mkstemp(prefix="paiements-", suffix=".xlsx")
    os.close(handle)
    path = Path(name)
    import xlsxwriter  # here: only an agent's export needs it, not every web process

    try:
        workbook = xlsxwriter.Workbook(
            name,
            {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False},
        )
        sheet = workbook.add_worksheet(t("backoffice.exports.sheet"))
        sheet.write_row(0, 0, header())
        amount = COLUMNS.index("amount")
        row_number = 1
        async for lines in settled_lines(commune_id, from_day, to_day):
            for line in lines:
                sheet.write_row(row_number, 0, line)
                # A number the accountant can add up (the text "243,11" would not be).
                sheet.write_number(row_number, amount, float(line[amount].replace(",", ".")))
                row_number += 1
        await asyncio.to_thread(workbook.close)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    """A file's bytes, a chunk at a time; the file is removed once read (or abandoned)."""
    try:
        with path.open("rb") as stream:
            while chunk := await asyncio.to_thread(stream.read, CHUNK_BYTES):
                yield chunk
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


def file_name(slug: str, from_day: dt.date | None, to_day: dt.date | None, suffix: str) -> str:
    """`paiements-<commune>-<from>-<to>.<suffix>` (`debut` and `fin` for an open end)."""
    start = from_day.isoformat() if from_day else "debut"
    end = to_day.isoformat() if to_day else "fin"
    return f"paiements-{slug}-{start}-{end}.{suffix}"


async def record_export(
    agent: AgentInfo,
    client_ip: str,
    commune_id: int,
    kind: str,
    from_day: dt.date | None,
    to_day: dt.date | None,
) -> None:
    """Journal an export (who took the payers' data, which period, in what format)."""
    async with transaction():
        await journal.record(
            "payments.export",
            agent.actor(client_ip),
            commune_id=commune_id,
            target=t("backoffice.exports.target"),
            after={
                "format": kind,
                "from": from_day.isoformat() if from_day else None,
                "to": to_day.isoformat() if to_day else None,
            },
        )
