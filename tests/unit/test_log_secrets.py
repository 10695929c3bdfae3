"""The e2e run's check that the server's log holds no secret (`e2e/log_secrets.py`), proved
here on planted secrets; and the access log's redaction that keeps link tokens out of it."""

from __future__ import annotations

import io
import logging
import logging.config
import types

from core.cli import access_log_config
from e2e.log_secrets import Finding, Secrets, scan

TOKEN = "Ff3GlG71t4Q7I5KaUiej33Jry9KX8loTHBVUhHacRq4"
LOG = """\
INFO:     Started server process [4242]
INFO:     127.0.0.1:50000 - "GET /boe/ HTTP/1.1" 200
{"time":"2026-11-28T07:00:00.000Z","event":"login","outcome":"failure","commune":"boe"}
"""


def _secrets() -> Secrets:
    secrets = Secrets()
    secrets.add_mail(f"Votre lien : http://127.0.0.1:8000/boe/activation/{TOKEN}.\n")
    secrets.add_cookies(["a-session-cookie-value-0123456789", "dark"])
    helpers = types.SimpleNamespace(
        PASSWORD="cantine du lundi matin", ACCEPTED_CARD="4242 4242 4242 4242", OTHER="x"
    )
    secrets.add_constants([helpers])
    return secrets


def test_a_clean_log_passes() -> None:
    assert scan(LOG, _secrets()) == []


def test_every_kind_of_planted_secret_is_found_by_line() -> None:
    planted = LOG + "\n".join(
        [
            f'INFO:     127.0.0.1:50001 - "GET /boe/activation/{TOKEN} HTTP/1.1" 200',
            "DEBUG form: password=cantine du lundi matin",
            "Set-Cookie: portail_session=a-session-cookie-value-0123456789; HttpOnly",
            "card 4242424242424242 accepted",
            "card 4242 4242 4242 4242 accepted",
        ]
    )
    assert scan(planted, _secrets()) == [
        Finding("link token", 4),
        Finding("password", 5),
        Finding("cookie value", 6),
        Finding("card number", 7),
        Finding("card number", 8),
    ]
    assert str(Finding("password", 5)) == "a password on line 5"  # never the secret itself


def test_short_cookie_values_and_payment_references_are_not_secrets() -> None:
    secrets = _secrets()
    secrets.add_mail("Reçu : http://127.0.0.1:8000/boe/paiement/20261128VHHYXZFBJWDK\n")
    assert "dark" not in secrets.cookies
    assert secrets.tokens == {TOKEN}


def test_the_access_log_of_portail_serve_cuts_link_tokens() -> None:
    config = access_log_config()
    stream = io.StringIO()
    config["handlers"]["access"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        access = logging.getLogger("uvicorn.access")
        for target in (f"/boe/activation/{TOKEN}", f"/boe/mot-de-passe/{TOKEN}?x=1", "/boe/"):
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", target, "1.1", 200)
    finally:
        logging.getLogger("uvicorn.access").handlers.clear()
    lines = stream.getvalue().splitlines()
    assert [line.split('"')[1] for line in lines] == [
        "GET /boe/activation/… HTTP/1.1",
        "GET /boe/mot-de-passe/…?x=1 HTTP/1.1",
        "GET /boe/ HTTP/1.1",
    ]
    assert TOKEN not in stream.getvalue()
    assert scan(stream.getvalue(), _secrets()) == []
