"""Invoices in from the commune's billing software: a `;`-separated CSV file, upserted.

The entry points (the `portail import invoices` command and the back office call them):

- `plan_import(commune_id, data, *, pdfs, data_dir)`: the dry run. Checks everything and
  compares with the database, writes nothing; the report says what would be created, updated,
  refused (each error with its line, column and French reason) and alerted.
- `run_import(commune_id, data, *, pdfs, data_dir, env, base_url, dry_run=False)`: the
  publication, or the dry run with `dry_run=True`.
- `import_invoices(commune_id, csv_text, *, pdf_dir, data_dir, env, base_url)`:
  `run_import()` with the PDFs of a directory.
- PDFs come from `pdfs_from_dir(path)` or `pdfs_from_zip(data, limits)` (an uploaded archive,
  checked before use; a refused one raises `PdfArchiveError` with a catalogue key).
- `ImportReport.as_dict()`: the report as JSON-ready values.

An import goes:

1. **Parse and check everything first** (`parsing`, in a worker thread, so a web process's
   event loop keeps serving): every wrong line is reported with its line number, column and
   a French reason (`core/locale/fr/import.toml`). One error and nothing is written.
2. **Copy the PDFs** (`pdfs`) to `<data_dir>/pdfs/<commune id>/`, under their final names,
   before touching the database: if the transaction then fails, the copies are harmless files
   no row points to, and no row ever points to a missing file.
3. **One write transaction** (`writing`, `alerts`): payers upserted by reference (name
   updated, new e-mail addresses added, none removed), invoices upserted by number (invoices
   absent from the file are left alone), new payer addresses linked to the commune's accounts
   with those addresses, and one alert e-mail per active account whose payers received new
   invoices, through the outbox.

Modules, each importing only those before it: `columns`, `report`, `parsing`, `pdfs`,
`writing`, `alerts`, `service`. The columns and the messages are documented in
docs/import.md. Money is integer cents (parsed with Decimal, never float).
"""

from core.invoices.importer.alerts import money_fr
from core.invoices.importer.columns import COLUMNS, Column
from core.invoices.importer.parsing import (
    InvoiceLine,
    ParsedFile,
    PayerLine,
    header_key,
    parse_amount,
    parse_date,
    parse_invoices_csv,
)
from core.invoices.importer.pdfs import (
    PdfArchiveError,
    PdfFiles,
    ZipLimits,
    pdf_relative_path,
    pdfs_from_dir,
    pdfs_from_zip,
    safe_number,
)
from core.invoices.importer.report import ImportLineError, ImportReport
from core.invoices.importer.service import import_invoices, plan_import, run_import

__all__ = [
    "COLUMNS",
    "Column",
    "ImportLineError",
    "ImportReport",
    "InvoiceLine",
    "ParsedFile",
    "PayerLine",
    "PdfArchiveError",
    "PdfFiles",
    "ZipLimits",
    "header_key",
    "import_invoices",
    "money_fr",
    "parse_amount",
    "parse_date",
    "parse_invoices_csv",
    "pdf_relative_path",
    "pdfs_from_dir",
    "pdfs_from_zip",
    "plan_import",
    "run_import",
    "safe_number",
]
