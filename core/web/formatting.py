"""How money and dates are shown: `243,11 €`, `10/07/2017` (French conventions, via Babel)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency

LOCALE = "fr_FR"
TIMEZONE = ZoneInfo("Europe/Paris")


def money(cents: int) -> str:
    """Integer cents as euros: 24311 -> '243,11 €' (with French non-breaking spaces)."""
    return format_currency(cents / 100, "EUR", locale=LOCALE)


def date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone(TIMEZONE).date() if value.tzinfo else value.date()
    return format_date(value, format="dd/MM/yyyy", locale=LOCALE)


def datetime(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return format_datetime(value, format="dd/MM/yyyy 'à' HH:mm", tzinfo=TIMEZONE, locale=LOCALE)
