"""Page-or-fragment decision, money and date formatting, client address."""

from __future__ import annotations

import datetime as dt

import pytest
from litestar.testing import RequestFactory

from core.web.formatting import date, datetime, money
from core.web.render import wants_fragment
from core.web.security import client_ip


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"hx-request": "true"}, True),
        ({"hx-request": "true", "hx-target": "password-section"}, True),
        ({"hx-request": "true", "hx-target": "email-section"}, False),
        ({"hx-request": "true", "hx-history-restore-request": "true"}, False),
    ],
)
def test_fragment_only_for_htmx_requests_aimed_at_the_block(
    headers: dict[str, str], expected: bool
) -> None:
    request = RequestFactory().get("/boe/mes-informations", headers=headers)
    assert wants_fragment(request, "password_section") is expected
    assert wants_fragment(request, None) is False


def test_money_is_shown_the_french_way() -> None:
    assert money(24311) == "243,11\xa0€"
    assert money(0) == "0,00\xa0€"
    assert money(123456789) == "1\u202f234\u202f567,89\xa0€"


def test_dates_are_day_month_year_in_paris_time() -> None:
    assert date(dt.date(2017, 7, 10)) == "10/07/2017"
    assert date(dt.datetime(2017, 7, 10, 23, 30, tzinfo=dt.UTC)) == "11/07/2017"
    assert date(None) == ""
    assert datetime(dt.datetime(2026, 11, 25, 9, 5, tzinfo=dt.UTC)) == "25/11/2026 à 10:05"


def test_client_address_trusts_forwarded_for_only_when_told() -> None:
    request = RequestFactory().get("/", headers={"x-forwarded-for": "203.0.113.9, 10.0.0.1"})
    # Behind one proxy of ours, the entry it appended (the right-most) is the client.
    assert client_ip(request, trusted_proxy_hops=1) == "10.0.0.1"
    assert client_ip(request, trusted_proxy_hops=0) not in {"203.0.113.9", "10.0.0.1"}
