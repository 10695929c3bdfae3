"""Invoices in from the commune's billing software: a `;`-separated CSV file, upserted.

`import_invoices()` is the one service (the `portail import invoices` command calls it, the back
office will too):

1. **Parse and check everything first** (in a worker thread, so a web process's event loop
   keeps serving): every wrong line is reported with its line number, column and a French
   reason (`core/locale/fr/import.toml`). One error and nothing is written.
2. **Copy the PDFs** found as `<pdf_dir>/<number>.pdf` to `<data_dir>/pdfs/<commune id>/`, under
   their final names, before touching the database: if the transaction then fails, the copies
   are harmless files no row points to, and no row ever points to a missing file.
3. **One write transaction**: payers upserted by reference (name updated, new e-mail addresses
   added, none removed), invoices upserted by number (invoices absent from the file are left
   alone), new payer addresses linked to the commune's accounts with those addresses, and one
   alert e-mail per active account whose payers received new invoices, through the outbox.

The columns and the messages are documented in docs/import.md. Money is integer cents
(parsed with Decimal, never float).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import gc
import hashlib
import io
import os
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import jinja2

from core import db_bulk
from core.communes.tables import Commune, Regie
from core.db import transaction
from core.i18n import t
from core.invoices.alerts import alert_recipients
from core.invoices.modes import PAYMENT_MODES, fold, parse_payment_mode
from core.invoices.tables import PAID, TO_PAY, TREASURY
from core.mail.addresses import normalise_email
from core.mail.bulk import EmailTemplate, Message, enqueue_many
from core.web.formatting import money

# --- The file's columns ---------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    max_length: int | None = None


PAYER_REF = "reference_debiteur"
PAYER_NAME = "nom_debiteur"
EMAILS = "emails"
REGIE = "regie"
NUMBER = "numero_facture"
PAYMENT_REFERENCE = "reference_paiement"
OBJECT = "objet"
ISSUED_ON = "date_emission"
DUE_ON = "date_echeance"
AMOUNT = "montant"
PAID_AMOUNT = "montant_regle"
STATUS = "statut"
PAID_ON = "date_reglement"
PAYMENT_MODE = "mode_reglement"
AUTHORISATION = "numero_autorisation"
DIRECT_DEBIT = "prelevement"
DEBIT_ON = "date_prelevement"

COLUMNS: tuple[Column, ...] = (
    Column(PAYER_REF, True, 64),
    Column(PAYER_NAME, True, 200),
    Column(EMAILS, False, 1000),
    Column(REGIE, True, 40),
    Column(NUMBER, True, 64),
    Column(PAYMENT_REFERENCE, False, 64),
    Column(OBJECT, False, 200),
    Column(ISSUED_ON, True),
    Column(DUE_ON, False),
    Column(AMOUNT, True),
    Column(PAID_AMOUNT, False),
    Column(STATUS, True),
    Column(PAID_ON, False),
    Column(PAYMENT_MODE, False),
    Column(AUTHORISATION, False, 64),
    Column(DIRECT_DEBIT, False),
    Column(DEBIT_ON, False),
)
COLUMNS_BY_NAME = {c.name: c for c in COLUMNS}

# Other spellings of a header (after folding: no accents, lower case, `_` between words).
HEADER_ALIASES = {
    "email": EMAILS,
    "e_mail": EMAILS,
    "e_mails": EMAILS,
    "courriel": EMAILS,
    "courriels": EMAILS,
    "numero_de_facture": NUMBER,
    "reference_de_paiement": PAYMENT_REFERENCE,
    "date_d_emission": ISSUED_ON,
    "date_d_echeance": DUE_ON,
    "date_de_reglement": PAID_ON,
    "mode_de_reglement": PAYMENT_MODE,
    "date_de_prelevement": DEBIT_ON,
}

STATUS_WORDS = {
    "a regler": TO_PAY,
    "reglee": PAID,
    "regle": PAID,
    "tresorerie": TREASURY,
}
TRUE_WORDS = frozenset({"oui", "o", "1", "true", "vrai", "yes", "x"})
FALSE_WORDS = frozenset({"non", "n", "0", "false", "faux", "no", ""})

MAX_AMOUNT_CENTS = 99_999_999_999  # 999 999 999,99 €
MIN_YEAR, MAX_YEAR = 1900, 2100
_DATE_FR = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_DATE_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_AMOUNT = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_SPACES = str.maketrans("", "", " \u00a0\u202f\t'")
_EMAIL_SPLIT = re.compile(r"[,;\s]+")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")

PDF_MAGIC = b"%PDF"
ALERT_TEMPLATE = "new_invoices"


# --- The report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportLineError:
    """A problem on a line of the file: `line` is 1-based (the header is line 1), `column` the
    documented column name ("" when the whole line is concerned), `message` in French."""

    line: int
    column: str
    message: str


@dataclass
class ImportReport:
    """What an import did: counts of invoices (`lines` read, `created`, `updated`, `unchanged`),
    of payers created, PDFs copied and alert e-mails queued. With `errors`, nothing was written;
    `warnings` (PDFs that are not PDFs) did not stop the import."""

    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    payers_created: int = 0
    pdfs_attached: int = 0
    alerts_queued: int = 0
    errors: list[ImportLineError] = field(default_factory=list)
    warnings: list[ImportLineError] = field(default_factory=list)
    # Seconds per phase: parse, pdfs, payers, links, compare, write, alerts, analyze, commit.
    timings: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- Parsing --------------------------------------------------------------------------------


@dataclass(slots=True)
class InvoiceLine:
    """One checked line of the file."""

    line: int
    payer_ref: str
    regie_id: int
    number: str
    payment_reference: str
    object: str
    issued_on: dt.date
    due_on: dt.date | None
    amount_cents: int
    paid_cents: int
    status: str
    paid_on: dt.date | None
    payment_mode: str
    authorisation_number: str
    direct_debit: bool
    debit_on: dt.date | None


@dataclass(slots=True)
class PayerLine:
    """A payer as the file describes it: the name on its first line, every address seen."""

    ref: str
    name: str
    emails: dict[str, None]  # an ordered set


@dataclass
class ParsedFile:
    lines: list[InvoiceLine] = field(default_factory=list)
    payers: dict[str, PayerLine] = field(default_factory=dict)
    errors: list[ImportLineError] = field(default_factory=list)


def parse_invoices_csv(data: str | bytes, regies: dict[str, int]) -> ParsedFile:
    """Read and check the whole file; `regies` maps the commune's régie codes to their ids."""
    parsed = ParsedFile()
    errors = parsed.errors
    text = _decode(data, errors)
    if text is None:
        return parsed
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    try:
        header = next(reader, None)
    except csv.Error:
        errors.append(ImportLineError(1, "", t("import.file.unreadable")))
        return parsed
    if header is None or not any(cell.strip() for cell in header):
        errors.append(ImportLineError(1, "", t("import.file.empty")))
        return parsed
    positions = _read_header(header, errors)
    if errors:
        return parsed

    parser = _LineParser(positions, len(header), regies, parsed)
    width = len(header)
    previous_end = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            errors.append(ImportLineError(reader.line_num, "", t("import.file.unreadable")))
            break
        line_no, previous_end = previous_end + 1, reader.line_num
        cells = [cell.strip() for cell in row]
        if len(cells) != width:
            if not any(cells):
                continue  # a blank line
            if len(cells) < width or any(cells[width:]):
                errors.append(
                    ImportLineError(
                        line_no,
                        "",
                        t("import.file.field_count", found=len(cells), expected=width),
                    )
                )
                continue
            del cells[width:]
        elif not any(cells):
            continue
        cells.append("")  # the value of every column the header does not have
        parser.parse(line_no, cells)
    return parsed


def _decode(data: str | bytes, errors: list[ImportLineError]) -> str | None:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            errors.append(ImportLineError(line, "", t("import.file.not_utf8")))
            return None
    return data.removeprefix("\ufeff")


def header_key(raw: str) -> str:
    """A header cell as a column name: "Numéro facture" -> "numero_facture"."""
    key = fold(raw).replace(" ", "_").replace("'", "_").replace("’", "_")
    return HEADER_ALIASES.get(key, key)


def _read_header(header: list[str], errors: list[ImportLineError]) -> dict[str, int]:
    positions: dict[str, int] = {}
    accepted = ", ".join(c.name for c in COLUMNS)
    for index, cell in enumerate(header):
        key = header_key(cell)
        if not key:
            continue  # an unnamed column (a trailing `;`): ignored
        if key not in COLUMNS_BY_NAME:
            errors.append(
                ImportLineError(
                    1, cell.strip(), t("import.header.unknown_column", columns=accepted)
                )
            )
        elif key in positions:
            errors.append(ImportLineError(1, key, t("import.header.duplicate_column")))
        else:
            positions[key] = index
    for column in COLUMNS:
        if column.required and column.name not in positions:
            errors.append(ImportLineError(1, column.name, t("import.header.missing_column")))
    return positions


class _LineParser:
    """Checks the lines of one file; cells are stripped, with "" appended for absent columns."""

    def __init__(
        self, positions: dict[str, int], width: int, regies: dict[str, int], parsed: ParsedFile
    ) -> None:
        self.parsed = parsed
        self.regies = regies
        self.regies_folded = {code.casefold(): regie_id for code, regie_id in regies.items()}
        self.known_codes = ", ".join(sorted(regies)) or "—"
        self.seen_numbers: dict[str, int] = {}
        self.index = {c.name: positions.get(c.name, width) for c in COLUMNS}
        self.checks = [
            (positions[c.name], c.name, c.required, c.max_length or 0)
            for c in COLUMNS
            if c.name in positions and (c.required or c.max_length)
        ]

    def error(self, line_no: int, column: str, key: str, **params: object) -> None:
        self.parsed.errors.append(
            ImportLineError(line_no, column, t(f"import.value.{key}", **params))
        )

    def parse(self, line_no: int, cells: list[str]) -> None:
        errors = self.parsed.errors
        count = len(errors)
        error = self.error
        for index, name, required, max_length in self.checks:
            value = cells[index]
            if not value:
                if required:
                    error(line_no, name, "required")
            elif max_length and len(value) > max_length:
                error(line_no, name, "too_long", length=len(value), max=max_length)
                cells[index] = ""
        ix = self.index
        payer_ref, number = cells[ix[PAYER_REF]], cells[ix[NUMBER]]

        emails: list[str] = []
        raw_emails = cells[ix[EMAILS]]
        if raw_emails:
            for raw in _EMAIL_SPLIT.split(raw_emails):
                if raw:
                    email = _email(raw)
                    if email:
                        emails.append(email)
                    else:
                        error(line_no, EMAILS, "bad_email", value=raw)

        regie_id = 0
        code = cells[ix[REGIE]]
        if code:
            found = self.regies.get(code) or self.regies_folded.get(code.casefold())
            if found is None:
                error(line_no, REGIE, "unknown_regie", code=code, codes=self.known_codes)
            else:
                regie_id = found

        if number:
            first = self.seen_numbers.get(number)
            if first is not None:
                error(line_no, NUMBER, "duplicate_number", line=first)
            else:
                self.seen_numbers[number] = line_no

        dates: list[dt.date | None] = []
        for column in (ISSUED_ON, DUE_ON, PAID_ON, DEBIT_ON):
            raw = cells[ix[column]]
            value = parse_date(raw) if raw else None
            if raw and value is None:
                error(line_no, column, "bad_date", value=raw)
            dates.append(value)
        issued_on, due_on, paid_on, debit_on = dates
        if issued_on and due_on and due_on < issued_on:
            error(
                line_no,
                DUE_ON,
                "due_before_issue",
                due=_show_date(due_on),
                issued=_show_date(issued_on),
            )

        amounts: list[int | None] = []
        for column in (AMOUNT, PAID_AMOUNT):
            raw = cells[ix[column]]
            cents, problem = parse_amount(raw) if raw else (None, "")
            if problem:
                error(line_no, column, problem, value=raw)
            amounts.append(cents)
        amount, paid = amounts
        paid_given = bool(cells[ix[PAID_AMOUNT]])
        if not paid_given:
            paid = 0

        status = ""
        status_raw = cells[ix[STATUS]]
        if status_raw:
            status = _status(status_raw) or ""
            if not status:
                error(line_no, STATUS, "bad_status", value=status_raw)
        if status == PAID:
            if not cells[ix[PAID_ON]]:
                error(line_no, PAID_ON, "paid_without_date")
            if not paid_given and amount is not None:
                paid = amount  # a settled invoice without an amount paid was paid in full
        if amount is not None and paid is not None and paid > amount:
            error(
                line_no, PAID_AMOUNT, "paid_exceeds_amount", paid=money(paid), amount=money(amount)
            )

        mode = ""
        mode_raw = cells[ix[PAYMENT_MODE]]
        if mode_raw:
            mode = parse_payment_mode(mode_raw) or ""
            if not mode:
                error(
                    line_no,
                    PAYMENT_MODE,
                    "bad_mode",
                    value=mode_raw,
                    modes=", ".join(PAYMENT_MODES),
                )

        flag_raw = cells[ix[DIRECT_DEBIT]]
        direct_debit = _flag(flag_raw) if flag_raw else False
        if direct_debit is None:
            error(line_no, DIRECT_DEBIT, "bad_flag", value=flag_raw)

        if len(errors) > count or issued_on is None or amount is None or paid is None:
            return  # (the last three are None only with an error reported)
        payers = self.parsed.payers
        payer = payers.get(payer_ref)
        if payer is None:
            payer = payers[payer_ref] = PayerLine(payer_ref, cells[ix[PAYER_NAME]], {})
        for email in emails:
            payer.emails[email] = None
        self.parsed.lines.append(
            InvoiceLine(
                line_no,
                payer_ref,
                regie_id,
                number,
                cells[ix[PAYMENT_REFERENCE]],
                cells[ix[OBJECT]],
                issued_on,
                due_on,
                amount,
                paid,
                status,
                paid_on,
                mode,
                cells[ix[AUTHORISATION]],
                bool(direct_debit),
                debit_on,
            )
        )


@lru_cache(maxsize=4096)
def parse_date(raw: str) -> dt.date | None:
    """`15/01/2026` or `2026-01-15` as a date; None when it is not a real date."""
    match = _DATE_FR.fullmatch(raw)
    if match:
        day, month, year = (int(g) for g in match.groups())
    else:
        match = _DATE_ISO.fullmatch(raw)
        if not match:
            return None
        year, month, day = (int(g) for g in match.groups())
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def parse_amount(raw: str) -> tuple[int | None, str]:
    """Euros as written in an export -> (cents, "") or (None, message key).

    Accepts `243,11`, `243.11`, `1 234,56`, `1.234,56`, `12 €`; refuses negative amounts and
    more than two decimals (`1,234` is 1.234 €, not 1234 €: refused).
    """
    text = raw.translate(_SPACES).removesuffix("€").removesuffix("EUR")
    negative = text.startswith("-")
    if negative or text.startswith("+"):
        text = text[1:]
    if "," in text and "." in text:
        point = max(text.rfind(","), text.rfind("."))
        text = text[:point].replace(",", "").replace(".", "") + "." + text[point + 1 :]
    else:
        text = text.replace(",", ".")
    if not _AMOUNT.fullmatch(text):
        return None, "bad_amount"
    try:
        cents = Decimal(text) * 100
    except InvalidOperation:  # pragma: no cover (the pattern only lets numbers through)
        return None, "bad_amount"
    if cents != cents.to_integral_value():
        return None, "too_many_decimals"
    if negative and cents:
        return None, "negative_amount"
    if cents > MAX_AMOUNT_CENTS:
        return None, "amount_too_large"
    return int(cents), ""


@lru_cache(maxsize=64)
def _status(raw: str) -> str | None:
    return STATUS_WORDS.get(fold(raw))


@lru_cache(maxsize=64)
def _flag(raw: str) -> bool | None:
    folded = fold(raw)
    if folded in TRUE_WORDS:
        return True
    if folded in FALSE_WORDS:
        return False
    return None


@lru_cache(maxsize=65536)
def _email(raw: str) -> str:
    return normalise_email(raw)


@lru_cache(maxsize=4096)
def _show_date(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


# --- PDFs -----------------------------------------------------------------------------------


def safe_number(number: str) -> str:
    """A file name for an invoice number: kept as is when it only has `A-Z a-z 0-9 . _ -`
    (and no leading dot), else sanitised and suffixed with a hash so two numbers never clash."""
    safe = _UNSAFE_FILENAME.sub("_", number).lstrip(".")
    if safe != number or not safe:
        digest = hashlib.sha256(number.encode("utf-8")).hexdigest()[:10]
        safe = f"{safe}-{digest}" if safe else digest
    return safe


def pdf_relative_path(commune_id: int, number: str) -> str:
    return f"pdfs/{commune_id}/{safe_number(number)}.pdf"


@dataclass
class StagedPdfs:
    paths: dict[str, str] = field(default_factory=dict)  # number -> path relative to data_dir
    copied: set[str] = field(default_factory=set)  # numbers whose file was (re)written
    warnings: list[ImportLineError] = field(default_factory=list)


def stage_pdfs(
    lines: list[InvoiceLine], pdf_dir: Path | None, data_dir: Path, commune_id: int
) -> StagedPdfs:
    """Copy `<pdf_dir>/<number>.pdf` under `data_dir`, with their final names.

    A number with characters other than `A-Z a-z 0-9 . _ -` is looked for with those
    characters replaced by `_` (`2026/004` -> `2026_004.pdf`), or under its `safe_number()`.

    A file that does not start with `%PDF` is ignored with a warning on the invoice's line.
    An identical file already in place is not rewritten.
    """
    staged = StagedPdfs()
    if pdf_dir is None:
        return staged
    available = {entry.name: entry.path for entry in os.scandir(pdf_dir) if entry.is_file()}
    if not available:
        return staged
    target_dir = data_dir / "pdfs" / str(commune_id)
    numbers = {line.number for line in lines}
    for line in lines:
        number = line.number
        names = [f"{number}.pdf", f"{number}.PDF", f"{safe_number(number)}.pdf"]
        plain = _UNSAFE_FILENAME.sub("_", number)
        if plain != number and plain not in numbers:  # "2026/004" -> "2026_004.pdf"
            names += [f"{plain}.pdf", f"{plain}.PDF"]
        source = None
        for name in names:
            source = available.get(name)
            if source is not None:
                break
        if source is None:
            continue
        content = Path(source).read_bytes()
        if not content.startswith(PDF_MAGIC):
            staged.warnings.append(
                ImportLineError(
                    line.line,
                    NUMBER,
                    t("import.warning.not_a_pdf", name=os.path.basename(source)),
                )
            )
            continue
        relative = pdf_relative_path(commune_id, line.number)
        target = data_dir / relative
        staged.paths[line.number] = relative
        if target.is_file() and target.read_bytes() == content:
            continue
        target_dir.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(content)
        os.replace(temporary, target)
        staged.copied.add(line.number)
    return staged


# --- Writing --------------------------------------------------------------------------------

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


_gc_pauses = 0


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while an import runs.

    An import allocates hundreds of thousands of objects that live until it ends, which makes
    the collector walk them all again and again: about a second out of eight for 100,000 lines,
    in pauses of up to 250 ms that stall the event loop. Reference counting still frees
    everything meanwhile; the collector resumes when the last running import ends.
    """
    global _gc_pauses
    if _gc_pauses == 0 and not gc.isenabled():
        yield  # someone else turned it off: leave it alone
        return
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0:
            gc.enable()


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self._last
        self._last = now


# PostgreSQL: tables are analyzed after an import that added this many rows.
ANALYZE_THRESHOLD = 1_000
# PostgreSQL: imports of one commune wait for each other (advisory lock, this key and the id).
_PG_LOCK_KEY = 0x504F5254  # "PORT"


async def import_invoices(
    commune_id: int,
    csv_text: str | bytes,
    *,
    pdf_dir: Path | None,
    data_dir: Path,
    env: jinja2.Environment,
    base_url: str,
) -> ImportReport:
    """Import a billing export for the commune `commune_id`; see the module's docstring.

    Returns the report: with `errors`, nothing was written. Raises LookupError for an unknown
    commune and NotADirectoryError for a `pdf_dir` that is not a directory.
    """
    commune = await Commune.select(Commune.slug, Commune.name).where(Commune.id == commune_id)
    if not commune:
        raise LookupError(f"no commune with id {commune_id}")
    if pdf_dir is not None and not await asyncio.to_thread(pdf_dir.is_dir):
        raise NotADirectoryError(str(pdf_dir))
    regies = {
        row["code"]: row["id"]
        for row in await Regie.select(Regie.id, Regie.code).where(Regie.commune == commune_id)
    }
    with _gc_paused():
        return await _import(
            commune_id, commune[0], regies, csv_text, pdf_dir, data_dir, env, base_url
        )


async def _import(
    commune_id: int,
    commune: dict[str, Any],
    regies: dict[str, int],
    csv_text: str | bytes,
    pdf_dir: Path | None,
    data_dir: Path,
    env: jinja2.Environment,
    base_url: str,
) -> ImportReport:
    clock = _Clock()
    parsed = await asyncio.to_thread(parse_invoices_csv, csv_text, regies)
    report = ImportReport(lines=len(parsed.lines), errors=parsed.errors, timings=clock.timings)
    clock.lap("parse")
    if parsed.errors:
        report.lines = 0
        return report
    staged = await asyncio.to_thread(stage_pdfs, parsed.lines, pdf_dir, data_dir, commune_id)
    report.warnings = staged.warnings
    clock.lap("pdfs")

    async with transaction():
        if db_bulk.is_postgres():
            await db_bulk.fetch("SELECT pg_advisory_xact_lock(?, ?)", [_PG_LOCK_KEY, commune_id])
        payer_ids, new_addresses = await _upsert_payers(commune_id, parsed, report)
        clock.lap("payers")
        await _link_accounts(commune_id, new_addresses)
        clock.lap("links")
        plan = await _plan_invoices(commune_id, parsed, payer_ids, staged)
        clock.lap("compare")
        await _write_invoices(plan, report)
        clock.lap("write")
        messages = await _alert_messages(commune_id, commune, plan.new_by_payer, env, base_url)
        report.alerts_queued = await enqueue_many(messages, commune_id=commune_id)
        clock.lap("alerts")
        await _refresh_statistics(report)
        clock.lap("analyze")
    clock.lap("commit")
    return report


async def _refresh_statistics(report: ImportReport) -> None:
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


async def _upsert_payers(
    commune_id: int, parsed: ParsedFile, report: ImportReport
) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """Payer ids by reference, and the (payer id, address) pairs added."""
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
    await db_bulk.executemany('UPDATE "payer" SET "name" = ? WHERE "id" = ?', renamed)
    new_refs = [ref for ref in refs if ref not in ids]
    if new_refs:
        await db_bulk.insert_many(
            "payer",
            ("commune", "external_ref", "name"),
            [(commune_id, ref, parsed.payers[ref].name) for ref in new_refs],
        )
        for row in await db_bulk.fetch_in(
            'SELECT "id", "external_ref" FROM "payer" '
            'WHERE "commune" = ? AND "external_ref" IN ({in})',
            new_refs,
            before=[commune_id],
        ):
            ids[row["external_ref"]] = row["id"]
    report.payers_created = len(new_refs)

    known_ids = [row["id"] for row in existing]
    known = {
        (row["payer"], row["email"])
        for row in await db_bulk.fetch_in(
            'SELECT "payer", "email" FROM "payer_email" WHERE "payer" IN ({in})', known_ids
        )
    }
    added = [
        (ids[ref], email)
        for ref, payer in parsed.payers.items()
        for email in payer.emails
        if (ids[ref], email) not in known
    ]
    await db_bulk.insert_many(
        "payer_email",
        ("commune", "payer", "email"),
        [(commune_id, payer_id, email) for payer_id, email in added],
    )
    return ids, added


async def _plan_invoices(
    commune_id: int, parsed: ParsedFile, payer_ids: dict[str, int], staged: StagedPdfs
) -> _InvoicePlan:
    """Read the file's invoices already stored and decide what to insert and update."""
    select = SELECT_INVOICES if db_bulk.is_postgres() else SELECT_INVOICES_SQLITE
    rows = await db_bulk.fetch_in_tuples(
        select, [line.number for line in parsed.lines], before=[commune_id]
    )
    return await asyncio.to_thread(_compare_invoices, commune_id, parsed, payer_ids, rows, staged)


async def _write_invoices(plan: _InvoicePlan, report: ImportReport) -> None:
    await db_bulk.insert_many("invoice", INSERT_INVOICE_COLUMNS, plan.inserts)
    await db_bulk.executemany(UPDATE_INVOICE, plan.updates)
    report.created, report.updated = len(plan.inserts), len(plan.updates)
    report.unchanged, report.pdfs_attached = plan.unchanged, plan.pdfs_attached


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


@dataclass
class _InvoicePlan:
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    unchanged: int = 0
    pdfs_attached: int = 0
    new_by_payer: dict[int, list[InvoiceLine]] = field(default_factory=lambda: defaultdict(list))


def _compare_invoices(
    commune_id: int,
    parsed: ParsedFile,
    payer_ids: dict[str, int],
    rows: list[tuple[Any, ...]],
    staged: StagedPdfs,
) -> _InvoicePlan:
    """Compare the file with the stored invoices (rows of SELECT_INVOICES): what to write."""
    existing = {row[1]: _with_dates(row) for row in rows}
    pdf_index = 2 + INVOICE_FIELDS.index("pdf_path")
    now = dt.datetime.now(dt.UTC)
    plan = _InvoicePlan()
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


async def _link_accounts(commune_id: int, added: list[tuple[int, str]]) -> None:
    """Let the commune's accounts see the payers that now list their address.

    The bulk form of `core.accounts.services.link_payers` (which activation and e-mail changes
    call for one account): same rule, one query per thousands of addresses.
    """
    if not added:
        return
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
        return
    linked = {
        (row["account"], row["payer"])
        for row in await db_bulk.fetch_in(
            'SELECT "account", "payer" FROM "account_payer" WHERE "account" IN ({in})',
            sorted({account_id for account_id, _ in wanted}),
        )
    }
    await db_bulk.insert_many("account_payer", ("account", "payer"), sorted(wanted - linked))


async def _alert_messages(
    commune_id: int,
    commune: dict[str, Any],
    new_by_payer: dict[int, list[InvoiceLine]],
    env: jinja2.Environment,
    base_url: str,
) -> list[Message]:
    """One e-mail per address of each active account whose payers got new invoices, rendered
    in a worker thread (the event loop keeps serving meanwhile)."""
    if not new_by_payer:
        return []
    # Every link of the commune's active accounts in one query, filtered here: a big import
    # touches thousands of payers, and an IN list that long costs more than the commune's links.
    payers_of: dict[int, list[int]] = defaultdict(list)
    for account_id, payer_id in await db_bulk.fetch_tuples(
        'SELECT ap."account", ap."payer" FROM "account_payer" ap '
        'JOIN "account" a ON a."id" = ap."account" WHERE a."commune" = ? AND a."state" = ?',
        [commune_id, "active"],
    ):
        if payer_id in new_by_payer:
            payers_of[account_id].append(payer_id)
    if not payers_of:
        return []
    recipients = await alert_recipients(sorted(payers_of))
    link = f"{base_url.rstrip('/')}/{commune['slug']}/factures"
    return await asyncio.to_thread(
        _render_alerts, env, commune, link, payers_of, new_by_payer, recipients
    )


class AlertItem(NamedTuple):
    """An invoice as the alert e-mail lists it (attributes, which Jinja reads fastest)."""

    number: str
    object: str
    amount: str
    due: str
    status: str
    direct_debit: bool
    debit: str
    order: tuple[dt.date, str]


def money_fr(cents: int) -> str:
    """`core.web.formatting.money` without Babel (100 times faster, same text): '1 234,56 €'."""
    return f"{cents // 100:,}".replace(",", "\u202f") + f",{cents % 100:02d}\u00a0€"


def _render_alerts(
    env: jinja2.Environment,
    commune: dict[str, Any],
    link: str,
    payers_of: dict[int, list[int]],
    new_by_payer: dict[int, list[InvoiceLine]],
    recipients: dict[int, list[str]],
) -> list[Message]:
    template = EmailTemplate(env, ALERT_TEMPLATE)
    shown: dict[int, list[AlertItem]] = {}  # payer id -> its new invoices
    amounts: dict[int, str] = {}

    def amount(cents: int) -> str:
        text = amounts.get(cents)
        if text is None:
            text = amounts[cents] = money_fr(cents)
        return text

    def invoices_of(payer_id: int) -> list[AlertItem]:
        items = shown.get(payer_id)
        if items is None:
            items = shown[payer_id] = [
                AlertItem(
                    number=line.number,
                    object=line.object,
                    amount=amount(line.amount_cents),
                    due=_show_date(line.due_on) if line.due_on else "",
                    status=line.status,
                    direct_debit=line.direct_debit,
                    debit=_show_date(line.debit_on) if line.debit_on else "",
                    order=(line.due_on or line.issued_on, line.number),
                )
                for line in new_by_payer[payer_id]
            ]
        return items

    messages: list[Message] = []
    for account_id, payer_list in sorted(payers_of.items()):
        addresses = list(dict.fromkeys(recipients.get(account_id, ())))
        if not addresses:
            continue
        invoices = sorted(
            (item for payer_id in sorted(set(payer_list)) for item in invoices_of(payer_id)),
            key=lambda item: item.order,
        )
        email = template.render(commune=commune, invoices=invoices, link=link)
        messages.extend(
            Message(address, email.subject, email.text, email.html) for address in addresses
        )
    return messages
