"""What must never reach the server's log, and the scan that looks for it (issue 11, item 4).

The e2e session collects the secrets it handles: the passwords the tests type (every
module-level `…PASSWORD` constant of the e2e modules), the tokens of every link mailed during
the run (the mail sink sees them), the values of every cookie the server set in a browser
(sessions, known devices, CSRF), and the card numbers paid with (every `…CARD` constant). At the
end of the session, `scan` reads the server's whole log (application, access and security log)
and the session fails if any of them is there. A finding names the kind and the line, never
the secret itself: the report must not leak it either.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

# A link's secret is a path segment or a query value of 32 characters or more (`new_secret()`
# makes 43); a payment's 20-character reference in a receipt's link is no secret.
_LINK = re.compile(r"https?://\S+")
_TOKEN_SEGMENT = re.compile(r"(?<=[/=])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])")
MIN_COOKIE_LENGTH = 16  # shorter values ("1", a theme name) are not secrets


@dataclass(frozen=True)
class Finding:
    kind: str
    line: int

    def __str__(self) -> str:
        return f"a {self.kind} on line {self.line}"


@dataclass
class Secrets:
    """The secrets seen during the run, by kind."""

    passwords: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    cookies: set[str] = field(default_factory=set)
    cards: set[str] = field(default_factory=set)

    def add_mail(self, text: str) -> None:
        for link in _LINK.findall(text):
            self.tokens.update(_TOKEN_SEGMENT.findall(link))

    def add_cookies(self, values: Iterable[str]) -> None:
        self.cookies.update(v for v in values if len(v) >= MIN_COOKIE_LENGTH)

    def add_constants(self, modules: Iterable[object]) -> None:
        """Module-level `…PASSWORD` and `…CARD` strings of `modules`."""
        for module in modules:
            for name, value in vars(module).items():
                if not isinstance(value, str) or not value:
                    continue
                if name.endswith("PASSWORD"):
                    self.passwords.add(value)
                elif name.endswith("CARD"):
                    self.cards.add(value)

    def by_kind(self) -> dict[str, set[str]]:
        cards = self.cards | {re.sub(r"[\s-]", "", card) for card in self.cards}
        return {
            "password": self.passwords,
            "link token": self.tokens,
            "cookie value": self.cookies,
            "card number": cards,
        }


def e2e_modules() -> list[object]:
    """The e2e modules this session imported (the tests and their helpers)."""
    return [m for name, m in sorted(sys.modules.items()) if name.startswith("e2e.") and m]


def scan(text: str, secrets: Secrets) -> list[Finding]:
    """Each secret found in `text`, by kind and line (first occurrence per secret and line)."""
    kinds = secrets.by_kind()
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, values in kinds.items():
            findings.extend(Finding(kind, number) for value in values if value in line)
    return findings
