"""What an import did, or would do: counts, the refused lines and the warnings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    `warnings` (PDFs that are not PDFs) did not stop the import.

    With `dry_run`, nothing was written either way: the counts are what publishing the same
    file would do to the database as it stands.
    """

    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    payers_created: int = 0
    pdfs_attached: int = 0
    alerts_queued: int = 0
    errors: list[ImportLineError] = field(default_factory=list)
    warnings: list[ImportLineError] = field(default_factory=list)
    dry_run: bool = False
    # Seconds per phase: parse, pdfs, payers, links, compare, write, alerts, analyze, commit.
    timings: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values, for an HTTP API (timings left out).

        Keys: `ok`, `dry_run` (booleans), `lines`, `created`, `updated`, `unchanged`,
        `payers_created`, `pdfs_attached`, `alerts_queued` (integers), and `errors` and
        `warnings`, lists of `{"line": int, "column": str, "message": str}`.
        """
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "lines": self.lines,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "payers_created": self.payers_created,
            "pdfs_attached": self.pdfs_attached,
            "alerts_queued": self.alerts_queued,
            "errors": [asdict(error) for error in self.errors],
            "warnings": [asdict(warning) for warning in self.warnings],
        }
