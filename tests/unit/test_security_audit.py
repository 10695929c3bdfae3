"""The security log's line format and what it refuses to write (`core.security.audit`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.security import audit


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs" / "security.jsonl"
    audit.configure(str(path))
    try:
        yield path
    finally:
        audit.configure("")


def test_one_json_line_per_event_in_the_configured_file(log_file: Path) -> None:
    audit.record("login", "failure", commune="boe", client="203.0.113.9", email="Claire@Ex.org")
    audit.record("payment", "settled", commune="boe", account=7, attempt=3, amount_cents=24311)
    first, second = (json.loads(line) for line in log_file.read_text("utf-8").splitlines())
    assert list(first) == ["time", "event", "outcome", "commune", "client", "email"]
    assert first["email"] == "c***@ex.org" and first["client"] == "203.0.113.9"
    assert second == {
        "time": second["time"],
        "event": "payment",
        "outcome": "settled",
        "commune": "boe",
        "client": "",
        "account": 7,
        "attempt": 3,
        "amount_cents": 24311,
    }


def test_configure_replaces_its_own_handler_only(log_file: Path, tmp_path: Path) -> None:
    other = logging.NullHandler()
    audit.logger.addHandler(other)
    try:
        audit.configure(str(tmp_path / "second.jsonl"))
        audit.record("logout", "success", commune="boe", account=1)
        assert log_file.read_text("utf-8") == ""
        assert (tmp_path / "second.jsonl").read_text("utf-8").count("\n") == 1
        assert other in audit.logger.handlers and audit.logger.propagate is False
    finally:
        audit.logger.removeHandler(other)


@pytest.mark.parametrize(
    ("event", "outcome", "fields"),
    [
        ("login", "maybe", {}),
        ("lgoin", "success", {}),
        ("login", "failure", {"password": "secret"}),
        ("activation", "success", {"token": "abc"}),
        ("payment", "settled", {"card_number": "4111111111111111"}),
    ],
)
def test_unknown_events_outcomes_and_fields_are_refused(
    event: str, outcome: str, fields: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="security event"):
        audit.record(event, outcome, commune="boe", **fields)


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("claire@example.org", "c***@example.org"),
        (" x@boe.test ", "x***@boe.test"),
        ("@example.org", "***@example.org"),
        ("pas-une-adresse", "***"),
        ("", "***"),
    ],
)
def test_addresses_are_masked(address: str, masked: str) -> None:
    assert audit.mask_email(address) == masked


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/boe/activation/Ff3GlG71t4Q7I5KaUiej33Jry9KX8loTHBVUhHacRq4", "/boe/activation/…"),
        ("/boe/mot-de-passe/Ff3GlG71t4Q7I5KaUiej33Jry9KX8loTHBVUhHacRq4/", "/boe/mot-de-passe/…/"),
        ("/boe/factures/12/pdf?x=secret", "/boe/factures/12/pdf"),
        ("/boe/mes-informations/mot-de-passe", "/boe/mes-informations/mot-de-passe"),
        ("/boe/gestion/double-authentification", "/boe/gestion/double-authentification"),
    ],
)
def test_paths_lose_their_link_tokens_and_query(path: str, logged: str) -> None:
    assert audit.redact_path(path) == logged
