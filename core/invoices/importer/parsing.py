"""Reading and checking the CSV export, without the database: every wrong value is reported
with its line, column and French reason (`core/locale/fr/import.toml`).

Money is integer cents, parsed with Decimal, never float. This runs once per line of files of
100,000 lines: the lookups are cached and the per-line steps kept plain.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from core.i18n import t
from core.invoices.importer.columns import (
    AMOUNT,
    AUTHORISATION,
    COLUMNS,
    COLUMNS_BY_NAME,
    DEBIT_ON,
    DIRECT_DEBIT,
    DUE_ON,
    EMAILS,
    FALSE_WORDS,
    HEADER_ALIASES,
    ISSUED_ON,
    MAX_AMOUNT_CENTS,
    MAX_YEAR,
    MIN_YEAR,
    NUMBER,
    OBJECT,
    PAID_AMOUNT,
    PAID_ON,
    PAYER_NAME,
    PAYER_REF,
    PAYMENT_MODE,
    PAYMENT_REFERENCE,
    REGIE,
    STATUS,
    STATUS_WORDS,
    TRUE_WORDS,
)
from core.invoices.importer.report import ImportLineError
from core.invoices.modes import PAYMENT_MODES, fold, parse_payment_mode
from core.invoices.tables import PAID
from core.mail.addresses import normalise_email
from core.web.formatting import money

_DATE_FR = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_DATE_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_AMOUNT = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_SPACES = str.maketrans("", "", " \u00a0\u202f\t'")
_EMAIL_SPLIT = re.compile(r"[,;\s]+")


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
    # PostgreSQL refuses a NUL character in text (and a file that has one is damaged): such a
    # line is unreadable, reported like unbalanced quotes but with its column, never stored.
    has_nul = "\x00" in text
    if has_nul and _nul_at(header) is not None:
        errors.append(ImportLineError(1, "", t("import.file.unreadable")))
        return parsed
    positions = _read_header(header, errors)
    if errors:
        return parsed

    names = {index: name for name, index in positions.items()}
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
        if has_nul and (nul := _nul_at(cells)) is not None:
            errors.append(ImportLineError(line_no, names.get(nul, ""), t("import.file.unreadable")))
            continue
        cells.append("")  # the value of every column the header does not have
        parser.parse(line_no, cells)
    return parsed


def _nul_at(cells: list[str]) -> int | None:
    """The position of the first cell holding a NUL character, if any."""
    return next((i for i, cell in enumerate(cells) if "\x00" in cell), None)


def _decode(data: str | bytes, errors: list[ImportLineError]) -> str | None:
    if isinstance(data, bytes):
        raw = data
        try:
            data = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
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
    """Checks the lines of one file; cells are stripped, with "" appended for absent columns.

    `parse()` runs the steps of one line in the order its errors are reported; a step reports
    its own errors and returns the value read (None, or "" / 0, when it is wrong).
    """

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
        self._check_presence_and_length(line_no, cells)
        ix = self.index
        emails = self._emails(line_no, cells[ix[EMAILS]])
        regie_id = self._regie(line_no, cells[ix[REGIE]])
        number = cells[ix[NUMBER]]
        self._check_number_is_new(line_no, number)
        issued_on, due_on, paid_on, debit_on = self._dates(line_no, cells)
        amount, paid = self._amounts(line_no, cells)
        status, paid = self._status(line_no, cells, amount, paid)
        mode = self._payment_mode(line_no, cells[ix[PAYMENT_MODE]])
        direct_debit = self._direct_debit(line_no, cells[ix[DIRECT_DEBIT]])
        if len(errors) > count or issued_on is None or amount is None or paid is None:
            return  # (the last three are None only with an error reported)
        self._add_payer(cells, emails)
        self.parsed.lines.append(
            InvoiceLine(
                line_no,
                cells[ix[PAYER_REF]],
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
                direct_debit,
                debit_on,
            )
        )

    def _check_presence_and_length(self, line_no: int, cells: list[str]) -> None:
        """Required values present; a value too long is reported and blanked."""
        for index, name, required, max_length in self.checks:
            value = cells[index]
            if not value:
                if required:
                    self.error(line_no, name, "required")
            elif max_length and len(value) > max_length:
                self.error(line_no, name, "too_long", length=len(value), max=max_length)
                cells[index] = ""

    def _emails(self, line_no: int, raw_emails: str) -> list[str]:
        emails: list[str] = []
        if raw_emails:
            for raw in _EMAIL_SPLIT.split(raw_emails):
                if raw:
                    email = _email(raw)
                    if email:
                        emails.append(email)
                    else:
                        self.error(line_no, EMAILS, "bad_email", value=raw)
        return emails

    def _regie(self, line_no: int, code: str) -> int:
        """The régie's id, 0 when absent or unknown."""
        if not code:
            return 0
        found = self.regies.get(code) or self.regies_folded.get(code.casefold())
        if found is None:
            self.error(line_no, REGIE, "unknown_regie", code=code, codes=self.known_codes)
            return 0
        return found

    def _check_number_is_new(self, line_no: int, number: str) -> None:
        if number:
            first = self.seen_numbers.get(number)
            if first is not None:
                self.error(line_no, NUMBER, "duplicate_number", line=first)
            else:
                self.seen_numbers[number] = line_no

    def _dates(self, line_no: int, cells: list[str]) -> list[dt.date | None]:
        """Issue, due, payment and direct-debit dates; the due date not before the issue."""
        dates: list[dt.date | None] = []
        ix = self.index
        for column in (ISSUED_ON, DUE_ON, PAID_ON, DEBIT_ON):
            raw = cells[ix[column]]
            value = parse_date(raw) if raw else None
            if raw and value is None:
                self.error(line_no, column, "bad_date", value=raw)
            dates.append(value)
        issued_on, due_on = dates[0], dates[1]
        if issued_on and due_on and due_on < issued_on:
            self.error(
                line_no,
                DUE_ON,
                "due_before_issue",
                due=show_date(due_on),
                issued=show_date(issued_on),
            )
        return dates

    def _amounts(self, line_no: int, cells: list[str]) -> tuple[int | None, int | None]:
        """The amount and the amount paid (0 when its cell is empty), in cents."""
        amounts: list[int | None] = []
        ix = self.index
        for column in (AMOUNT, PAID_AMOUNT):
            raw = cells[ix[column]]
            cents, problem = parse_amount(raw) if raw else (None, "")
            if problem:
                self.error(line_no, column, problem, value=raw)
            amounts.append(cents)
        amount, paid = amounts
        if not cells[ix[PAID_AMOUNT]]:
            paid = 0
        return amount, paid

    def _status(
        self, line_no: int, cells: list[str], amount: int | None, paid: int | None
    ) -> tuple[str, int | None]:
        """The status code, and the amount paid as the status settles it: a `réglée` invoice
        without an amount paid was paid in full, and needs a payment date."""
        ix = self.index
        status = ""
        status_raw = cells[ix[STATUS]]
        if status_raw:
            status = _status_code(status_raw) or ""
            if not status:
                self.error(line_no, STATUS, "bad_status", value=status_raw)
        if status == PAID:
            if not cells[ix[PAID_ON]]:
                self.error(line_no, PAID_ON, "paid_without_date")
            if not cells[ix[PAID_AMOUNT]] and amount is not None:
                paid = amount
        if amount is not None and paid is not None and paid > amount:
            self.error(
                line_no, PAID_AMOUNT, "paid_exceeds_amount", paid=money(paid), amount=money(amount)
            )
        return status, paid

    def _payment_mode(self, line_no: int, mode_raw: str) -> str:
        if not mode_raw:
            return ""
        mode = parse_payment_mode(mode_raw) or ""
        if not mode:
            self.error(
                line_no, PAYMENT_MODE, "bad_mode", value=mode_raw, modes=", ".join(PAYMENT_MODES)
            )
        return mode

    def _direct_debit(self, line_no: int, flag_raw: str) -> bool:
        direct_debit = _flag(flag_raw) if flag_raw else False
        if direct_debit is None:
            self.error(line_no, DIRECT_DEBIT, "bad_flag", value=flag_raw)
            return False
        return direct_debit

    def _add_payer(self, cells: list[str], emails: list[str]) -> None:
        """The payer of a valid line: named by its first line, with every address seen."""
        payers = self.parsed.payers
        payer_ref = cells[self.index[PAYER_REF]]
        payer = payers.get(payer_ref)
        if payer is None:
            payer = payers[payer_ref] = PayerLine(payer_ref, cells[self.index[PAYER_NAME]], {})
        for email in emails:
            payer.emails[email] = None


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
def _status_code(raw: str) -> str | None:
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
def show_date(value: dt.date) -> str:
    """A date as the messages and e-mails show it: 15/01/2026."""
    return value.strftime("%d/%m/%Y")
