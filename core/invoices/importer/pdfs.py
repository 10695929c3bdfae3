"""The invoices' PDFs: where they come from (a directory, or an uploaded zip archive checked
before anything is read from it), and their copy under the data directory.

Both sources give the same thing, `PdfFiles`: file names (`<number>.pdf`) mapped to a file on
disk or to the content, which `stage_pdfs()` matches to the file's invoices and copies, under
their final names, before the database is touched: if the transaction then fails, the copies
are harmless files no row points to, and no row ever points to a missing file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import struct
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.i18n import t
from core.invoices.importer.columns import NUMBER
from core.invoices.importer.parsing import InvoiceLine
from core.invoices.importer.report import ImportLineError

PDF_MAGIC = b"%PDF"
ZIP_PDF_MAGIC = b"%PDF-"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")
_DRIVE = re.compile(r"[A-Za-z]:")
_MiB = 1024 * 1024
_READ_CHUNK = 64 * 1024
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# What `zipfile` raises on a damaged or hostile archive, beyond BadZipFile.
_BROKEN_ZIP = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    IndexError,
    struct.error,
    NotImplementedError,
    RuntimeError,
)

# A file name (`F-001.pdf`) -> the file, or its content.
PdfFiles = Mapping[str, Path | bytes]


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


# --- Sources ----------------------------------------------------------------------------------


def pdfs_from_dir(pdf_dir: Path) -> dict[str, Path]:
    """The files of `pdf_dir` by name (`stage_pdfs` picks the invoices' ones).

    Raises NotADirectoryError when `pdf_dir` is not a directory.
    """
    if not pdf_dir.is_dir():
        raise NotADirectoryError(str(pdf_dir))
    return {entry.name: Path(entry.path) for entry in os.scandir(pdf_dir) if entry.is_file()}


@dataclass(frozen=True)
class ZipLimits:
    """Bounds of an uploaded archive of PDFs; the defaults fit about 10,000 invoices."""

    max_archive_bytes: int = 100 * _MiB  # the archive itself (compressed)
    max_total_bytes: int = 500 * _MiB  # all its PDFs, decompressed (declared and actual)
    max_entries: int = 20_000  # files and folders


class PdfArchiveError(Exception):
    """An archive of PDFs refused as a whole, before any of it is used.

    `key` is the message's key in the French catalogue (`import.zip.*`), `params` its values
    (`name`: the offending entry, when there is one); `message` is the French text.
    """

    def __init__(self, key: str, **params: object) -> None:
        self.key = f"import.zip.{key}"
        self.params = params
        super().__init__(self.key, params)

    @property
    def message(self) -> str:
        return t(self.key, **self.params)


def pdfs_from_zip(data: bytes, limits: ZipLimits | None = None) -> dict[str, bytes]:
    """The PDFs of a zip archive, by file name (`F-001.pdf`, extension in lower case).

    The archive is refused (PdfArchiveError) when it is larger than `limits` allow (its own
    size, its number of entries, its total decompressed size: the sizes it declares are
    checked first, then the bytes actually decompressed are counted, and reading stops past
    the limit), or when an entry is unsafe or unexpected: an absolute name, a `..` component,
    a backslash, a link, an encrypted entry, a compression other than deflate (or none), a
    name not ending in `.pdf` (any case), content not starting with `%PDF-`, or a file name
    seen twice. Folders are ignored: a PDF in a
    folder counts under its file name.
    """
    limits = limits or ZipLimits()
    if len(data) > limits.max_archive_bytes:
        raise PdfArchiveError("archive_too_large", max=_megabytes(limits.max_archive_bytes))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _BROKEN_ZIP as exc:
        raise PdfArchiveError("not_a_zip") from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > limits.max_entries:
            raise PdfArchiveError("too_many_entries", count=len(entries), max=limits.max_entries)
        files = _checked_entries(entries)
        if _declared_size(files.values()) > limits.max_total_bytes:
            raise PdfArchiveError("content_too_large", max=_megabytes(limits.max_total_bytes))
        budget = _Budget(limits.max_total_bytes)
        return {name: _read_pdf(archive, entry, budget) for name, entry in files.items()}


def _checked_entries(entries: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """The archive's files by `<stem>.pdf`, after the checks of their names and types."""
    files: dict[str, zipfile.ZipInfo] = {}
    for entry in entries:
        raw = entry.filename
        if "\\" in raw or "\\" in entry.orig_filename:
            raise PdfArchiveError("backslash", name=raw)
        if raw.startswith("/") or _DRIVE.match(raw):
            raise PdfArchiveError("absolute_path", name=raw)
        if ".." in raw.split("/"):
            raise PdfArchiveError("traversal", name=raw)
        mode = entry.external_attr >> 16
        if stat.S_ISLNK(mode) or stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise PdfArchiveError("not_a_file", name=raw)
        if raw.endswith("/"):  # a folder (`ZipInfo.is_dir()` fails on an empty name)
            continue
        base = raw.rsplit("/", 1)[-1]
        if len(base) <= len(".pdf") or not base.lower().endswith(".pdf"):
            raise PdfArchiveError("not_a_pdf_name", name=raw)
        if entry.flag_bits & 0x1:
            raise PdfArchiveError("encrypted", name=raw)
        if entry.compress_type not in _COMPRESSIONS:
            raise PdfArchiveError("unreadable", name=raw)
        name = base[: -len(".pdf")] + ".pdf"
        if name in files:
            raise PdfArchiveError("duplicate", name=raw, first=files[name].filename)
        files[name] = entry
    return files


def _declared_size(entries: Iterable[zipfile.ZipInfo]) -> int:
    return sum(entry.file_size for entry in entries)


class _Budget:
    """The decompressed bytes an archive may still yield."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise PdfArchiveError("content_too_large", max=_megabytes(self.limit))


def _read_pdf(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, budget: _Budget) -> bytes:
    """An entry's content, read in chunks counted against `budget`; it must be a PDF."""
    chunks: list[bytes] = []
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(_READ_CHUNK):
                budget.spend(len(chunk))
                chunks.append(chunk)
    except _BROKEN_ZIP as exc:
        raise PdfArchiveError("unreadable", name=entry.filename) from exc
    content = b"".join(chunks)
    if not content.startswith(ZIP_PDF_MAGIC):
        raise PdfArchiveError("not_a_pdf", name=entry.filename)
    return content


def _megabytes(size: int) -> int:
    return size // _MiB


# --- Copies -----------------------------------------------------------------------------------


@dataclass
class StagedPdfs:
    paths: dict[str, str] = field(default_factory=dict)  # number -> path relative to data_dir
    copied: set[str] = field(default_factory=set)  # numbers whose file was (re)written
    warnings: list[ImportLineError] = field(default_factory=list)


def stage_pdfs(
    lines: list[InvoiceLine],
    files: PdfFiles | None,
    data_dir: Path,
    commune_id: int,
    *,
    dry_run: bool = False,
) -> StagedPdfs:
    """Copy the PDFs of `files` that belong to the invoices of `lines` under `data_dir`, with
    their final names (`pdf_relative_path()`); with `dry_run`, only say what would be copied.

    An invoice's file is `<number>.pdf` (or `.PDF`); a number with characters other than
    `A-Z a-z 0-9 . _ -` is looked for with those characters replaced by `_`
    (`2026/004` -> `2026_004.pdf`), or under its `safe_number()`.

    A file that does not start with `%PDF` is ignored with a warning on the invoice's line.
    An identical file already in place is not rewritten.
    """
    staged = StagedPdfs()
    if not files:
        return staged
    numbers = {line.number for line in lines}
    for line in lines:
        found = _file_of(line.number, files, numbers)
        if found is None:
            continue
        name, source = found
        content = source if isinstance(source, bytes) else source.read_bytes()
        if not content.startswith(PDF_MAGIC):
            staged.warnings.append(
                ImportLineError(line.line, NUMBER, t("import.warning.not_a_pdf", name=name))
            )
            continue
        relative = pdf_relative_path(commune_id, line.number)
        staged.paths[line.number] = relative
        if _write_if_changed(data_dir / relative, content, dry_run=dry_run):
            staged.copied.add(line.number)
    return staged


def _file_of(number: str, files: PdfFiles, numbers: set[str]) -> tuple[str, Path | bytes] | None:
    """The name and file of invoice `number` in `files`, if there is one."""
    names = [f"{number}.pdf", f"{number}.PDF", f"{safe_number(number)}.pdf"]
    plain = _UNSAFE_FILENAME.sub("_", number)
    if plain != number and plain not in numbers:  # "2026/004" -> "2026_004.pdf"
        names += [f"{plain}.pdf", f"{plain}.PDF"]
    for name in names:
        source = files.get(name)
        if source is not None:
            return name, source
    return None


def _write_if_changed(target: Path, content: bytes, *, dry_run: bool) -> bool:
    """Write `content` to `target` atomically unless it is there already; True if (it would
    be) written."""
    if target.is_file() and target.read_bytes() == content:
        return False
    if dry_run:
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, target)
    return True
