"""The browser and system names shown in "Mes sessions", read from the User-Agent."""

from __future__ import annotations

import datetime as dt

import pytest

from core.accounts.sessions import OpenSession

AGENTS = {
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1": ("Safari", "iOS"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0": ("Edge", "Windows"),
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
    "Mobile Safari/537.36": ("Chrome", "Android"),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:133.0) Gecko/20100101 Firefox/133.0": (
        "Firefox",
        "macOS",
    ),
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
    "Safari/537.36 OPR/115.0": ("Opera", "Linux"),
    "curl/8.5.0": ("", ""),
    "": ("", ""),
}


@pytest.mark.parametrize(("user_agent", "expected"), AGENTS.items())
def test_browser_and_system(user_agent: str, expected: tuple[str, str]) -> None:
    moment = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    session = OpenSession(moment, moment, persistent=False, user_agent=user_agent, current=True)
    assert (session.browser, session.system) == expected
