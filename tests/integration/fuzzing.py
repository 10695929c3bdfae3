"""What the fuzz tests share: the forms the app's pages carry (found by reading them, so a new
form is fuzzed without anyone listing it), values to try in them, and the checks that nothing
malformed was stored and that no typed text reaches a page unescaped."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from piccolo.columns import Varchar
from piccolo.conf.apps import Finder

from core.mail.addresses import normalise_email

# Bounded: the whole fuzz file runs in about a minute per engine. No shrinking: a failure shows
# the example as found (shrinking one that fills every form could take minutes).
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    print_blob=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text that would run as script, or break out of an attribute, if a page did not escape it.
PAYLOADS = (
    "<script>alert('zqx')</script>",
    '"><img src=x onerror=alert("zqx")>',
    "'><svg/onload=alert('zqx')>",
    "<a href=\"javascript:alert('zqx')\">zqx</a>",
    "</textarea><script>zqx</script>",
)
ODD_TEXT = ("", " ", "\x00", "é" * 300, "\u202e\u200b", "1;DROP TABLE invoice", "%00", "../../x")

# Columns holding e-mail addresses: what is stored there must be a normalised address.
EMAIL_COLUMNS = {"email", "new_email"}


def field_values(known: list[str]) -> st.SearchStrategy[str]:
    """A value for one field: one the page offers, a payload, odd text or anything."""
    return st.one_of(
        st.sampled_from([*known, ""]),
        st.sampled_from(PAYLOADS),
        st.sampled_from(ODD_TEXT),
        st.text(max_size=80),
        st.emails().map(str),
    )


@dataclasses.dataclass(frozen=True)
class Form:
    """A form as a page carries it: where it goes, how, and its fields with the values the
    page offers (hidden ids, options, defaults)."""

    method: str
    action: str
    fields: tuple[tuple[str, tuple[str, ...]], ...]


class FormReader(HTMLParser):
    """The forms of a page: action, method, fields (but the CSRF token) and offered values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = {
                "method": found.get("method", "get").upper(),
                "action": found.get("action", ""),
                "fields": {},
            }
        elif self._current is not None and tag in ("input", "select", "textarea", "option"):
            name = found.get("name", "")
            if tag == "option":
                name = self._current.get("select", "")
            elif tag == "select":
                self._current["select"] = name
            if not name or name == "_csrf_token" or found.get("type") == "file":
                return
            values = self._current["fields"].setdefault(name, [])
            if found.get("value"):
                values.append(found["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._current is not None:
            fields = tuple(sorted((k, tuple(v)) for k, v in self._current["fields"].items()))
            self.forms.append(Form(self._current["method"], self._current["action"], fields))
            self._current = None


def forms_of(html: str) -> list[Form]:
    reader = FormReader()
    reader.feed(html)
    return reader.forms


async def stored_problems() -> list[str]:
    """Rows no form may leave: text longer than its column, a NUL character, an e-mail column
    holding something that is not a normalised address."""
    problems = []
    for table in Finder().get_table_classes():
        texts = [c for c in table._meta.columns if isinstance(c, Varchar)]
        if not texts:
            continue
        for row in await table.select(*texts):
            for column in texts:
                value = row[column._meta.name]
                where = f"{table._meta.tablename}.{column._meta.name}={value!r:.60}"
                if not isinstance(value, str):
                    continue
                if len(value) > column.length:
                    problems.append(f"{where}: longer than {column.length}")
                if "\x00" in value:
                    problems.append(f"{where}: NUL character")
                if column._meta.name in EMAIL_COLUMNS and value and normalise_email(value) != value:
                    problems.append(f"{where}: not a normalised address")
    return problems


def unescaped(html: str, sent: list[str]) -> list[str]:
    """The payloads among `sent` that a page shows as they were typed (so as markup)."""
    return [p for p in PAYLOADS if any(p in value for value in sent) and p in html]
