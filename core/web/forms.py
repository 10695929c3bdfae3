"""Forms: reading a posted form, and the errors a handler shows next to its fields."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from litestar import Request

from core.i18n import t


class RateLimited(Exception):
    """Too many attempts for an address or a client address; the message is for the person."""

    def __init__(self) -> None:
        super().__init__(t("accounts.rate_limited"))


@dataclass
class Problems(Exception):
    """Form errors: field name -> French messages."""

    errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Inside, a raised `Problems` joins these instead of stopping the caller, so a form
        reports every error at once."""
        try:
            yield
        except Problems as other:
            for name, messages in other.errors.items():
                for message in messages:
                    self.add(name, message)


def field_problem(name: str, message: str) -> Problems:
    """`Problems` with one message, for one field."""
    problems = Problems()
    problems.add(name, message)
    return problems


# Control characters no one types (NUL, escape...); tabs and line ends are kept. PostgreSQL
# refuses a NUL in text, and none belongs in a name, an address or a message.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def typed_text(value: str) -> str:
    """What a person typed, without the control characters no keyboard sends."""
    return CONTROL_CHARACTERS.sub("", value)


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (files left out), without control characters."""
    form = await request.form()
    return {key: typed_text(value) for key, value in form.items() if isinstance(value, str)}
