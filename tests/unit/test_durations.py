"""Durations and configuration dates as the legal pages write them."""

from __future__ import annotations

import datetime as dt

import pytest

from core.web.formatting import duration, iso_date


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.timedelta(days=30), "30 jours"),
        (dt.timedelta(days=1), "1 jour"),
        (dt.timedelta(hours=12), "12 heures"),
        (dt.timedelta(hours=1), "1 heure"),
        (dt.timedelta(hours=48), "2 jours"),
        (dt.timedelta(hours=36), "36 heures"),  # not rounded to a day and a half
        (dt.timedelta(minutes=30), "30 minutes"),
        (dt.timedelta(minutes=90), "90 minutes"),
        (dt.timedelta(minutes=1), "1 minute"),
    ],
)
def test_duration_uses_the_largest_exact_unit(value: dt.timedelta, text: str) -> None:
    assert duration(value) == text


def test_iso_date() -> None:
    assert iso_date("2026-10-15") == "15/10/2026"
