"""The client address rate limits count: X-Forwarded-For read from the right, by trusted hops."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from litestar import Request
from litestar.testing import RequestFactory

from core.settings import Settings
from core.web.security import client_ip

PEER = "test.org"  # RequestFactory's client host


def _request(*forwarded: str) -> Request:
    request = RequestFactory().get("/")
    request.scope["headers"] = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return request


def test_without_trusted_hops_the_peer_is_the_client() -> None:
    request = _request("198.51.100.7")
    assert client_ip(request, trusted_proxy_hops=0) == PEER


@pytest.mark.parametrize("spoofed", ["198.51.100.1", "198.51.100.2", "1.2.3.4, 5.6.7.8", "x"])
def test_a_spoofed_left_most_entry_changes_nothing(spoofed: str) -> None:
    # The client wrote `spoofed`; our proxy appended the address it saw, 203.0.113.9.
    request = _request(f"{spoofed}, 203.0.113.9")
    assert client_ip(request, trusted_proxy_hops=1) == "203.0.113.9"


def test_with_two_hops_the_second_from_the_right_is_the_client() -> None:
    request = _request("198.51.100.1, 203.0.113.9, 10.0.0.2")
    assert client_ip(request, trusted_proxy_hops=2) == "203.0.113.9"
    # Several headers count as one list, in order.
    split = _request("198.51.100.1", "203.0.113.9, 10.0.0.2")
    assert client_ip(split, trusted_proxy_hops=2) == "203.0.113.9"
    assert client_ip(split, trusted_proxy_hops=1) == "10.0.0.2"


@pytest.mark.parametrize(
    "forwarded",
    [(), ("",), ("not-an-address",), ("203.0.113.9, ",), ("203.0.113.9, 999.1.1.1",)],
)
def test_a_malformed_or_short_header_falls_back_to_the_peer(forwarded: tuple[str, ...]) -> None:
    assert client_ip(_request(*forwarded), trusted_proxy_hops=1) == PEER
    assert client_ip(_request("203.0.113.9"), trusted_proxy_hops=2) == PEER


def test_ipv6_entries_are_read_and_normalised() -> None:
    request = _request("198.51.100.1, 2001:DB8::0001")
    assert client_ip(request, trusted_proxy_hops=1) == "2001:db8::1"


def test_the_hops_setting_and_the_deprecated_boolean(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = {"PORTAIL_SECRET_KEY": "test-secret-key-long-enough-for-32-chars"}
    no_dotenv = tmp_path / "none.env"
    assert Settings.from_env(base, dotenv=no_dotenv).trusted_proxy_hops == 0
    hops = Settings.from_env({**base, "PORTAIL_TRUSTED_PROXY_HOPS": "2"}, dotenv=no_dotenv)
    assert hops.trusted_proxy_hops == 2 and hops.trust_proxy_headers
    with caplog.at_level(logging.WARNING, logger="core.settings"):
        old = Settings.from_env({**base, "PORTAIL_TRUST_PROXY_HEADERS": "1"}, dotenv=no_dotenv)
    assert old.trusted_proxy_hops == 1
    assert "PORTAIL_TRUST_PROXY_HEADERS is deprecated" in caplog.text
    off = Settings.from_env({**base, "PORTAIL_TRUST_PROXY_HEADERS": "0"}, dotenv=no_dotenv)
    assert off.trusted_proxy_hops == 0
    with pytest.raises(ValueError, match="PORTAIL_TRUSTED_PROXY_HOPS"):
        Settings.from_env({**base, "PORTAIL_TRUSTED_PROXY_HOPS": "-1"}, dotenv=no_dotenv)
