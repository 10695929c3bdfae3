"""How money and dates are shown: `243,11 €`, `10/07/2017` (French conventions, via Babel); and
agents' plain texts as safe HTML paragraphs with clickable links (`rich_text`)."""

from __future__ import annotations

import datetime as dt
import functools
import re
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from markupsafe import Markup, escape

from core.i18n import t

LOCALE = "fr_FR"
TIMEZONE = ZoneInfo("Europe/Paris")


# Babel takes about 100 µs per amount or date and a page shows dozens: the same few values
# come back on every page, so their text is kept (pure functions of hashable values).
@functools.lru_cache(maxsize=8192)
def money(cents: int) -> str:
    """Integer cents as euros: 24311 -> '243,11 €' (with French non-breaking spaces)."""
    return format_currency(cents / 100, "EUR", locale=LOCALE)


@functools.lru_cache(maxsize=8192)
def date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone(TIMEZONE).date() if value.tzinfo else value.date()
    return format_date(value, format="dd/MM/yyyy", locale=LOCALE)


def iso_date(value: str) -> str:
    """A date written in the configuration (`2026-11-28`), as parents read it (`28/11/2026`)."""
    return date(dt.date.fromisoformat(value))


def datetime(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return format_datetime(value, format="dd/MM/yyyy 'à' HH:mm", tzinfo=TIMEZONE, locale=LOCALE)


def duration(value: dt.timedelta) -> str:
    """A duration as the legal pages state it: '30 jours', '12 heures', '30 minutes' (the largest
    unit that divides it exactly, so nothing is rounded)."""
    minutes = int(value.total_seconds() // 60)
    for size, unit in ((24 * 60, "day"), (60, "hour")):
        if minutes >= size and minutes % size == 0:
            return _count(minutes // size, unit)
    return _count(minutes, "minute")


def _count(count: int, unit: str) -> str:
    return t(f"formatting.{unit}{'' if count == 1 else 's'}", count=count)


# --- Agents' texts shown to parents ----------------------------------------------------------

_BLANK_LINES = re.compile(r"\n\s*\n")
# Only http(s) URLs become links; quotes and angle brackets end a URL, so no typed text can
# leave the href attribute (it is escaped anyway).
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?»…"


def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, trimmed; line breaks inside one stay (CSS shows them)."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p.strip() for p in _BLANK_LINES.split(normalised) if p.strip()]


def _url_end(url: str) -> int:
    """Where the link ends: sentence punctuation after a URL, and a closing parenthesis with no
    opening one in the URL ("(voir https://x.fr)"), stay outside the link."""
    end = len(url)
    while end > 0:
        last = url[end - 1]
        if last in _TRAILING or (last == ")" and url.count("(", 0, end) < url.count(")", 0, end)):
            end -= 1
        else:
            break
    return end


def _linked(paragraph: str) -> Markup:
    """The paragraph escaped, its http(s) URLs as links that open no window reference."""
    parts: list[Markup] = []
    position = 0
    for match in _URL.finditer(paragraph):
        url = match.group(0)
        url = url[: _url_end(url)]
        if url.endswith("://"):
            continue  # nothing left but the scheme: plain text
        parts.append(escape(paragraph[position : match.start()]))
        # Markup.format escapes its arguments: the URL is escaped in the href and the text.
        parts.append(Markup('<a href="{0}" rel="noopener noreferrer nofollow">{0}</a>').format(url))
        position = match.start() + len(url)
    parts.append(escape(paragraph[position:]))
    return Markup("").join(parts)


def rich_text(text: str | None, css_class: str = "") -> Markup:
    """An agent's plain text as HTML: everything escaped, blank lines make `<p>` paragraphs
    (with `css_class`), http(s) URLs become links. Nothing typed can run in a browser."""
    attribute = Markup(' class="{}"').format(css_class) if css_class else Markup("")
    return Markup("\n").join(
        Markup("<p{}>{}</p>").format(attribute, _linked(p)) for p in split_paragraphs(text or "")
    )
