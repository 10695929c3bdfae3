"""The one check of the addresses people type (issue 11, item 17): `email-validator`'s syntax,
lower case, Unicode domains kept in one form."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from core.mail import addresses
from core.mail.addresses import normalise_email


@pytest.mark.parametrize(
    "typed",
    [
        "someone@example.com/../../etc/passwd",
        "someone@example.com\\..\\windows",
        "claire martin@example.org",
        "claire@exam ple.org",
        "claire@",
        "@example.org",
        "claire",
        "claire@example",  # no dot in the domain
        "claire@localhost",
        "claire@[127.0.0.1]",
        '"claire martin"@example.org',
        "claire..martin@example.org",
        "claire@example..org",
        "claire@-example.org",
        "claire@example.org\nBcc: victim@example.org",
        "claire@example.org>",
        "<claire@example.org>",
        "Claire <claire@example.org>",
        "claire@example.org,other@example.org",
        "claire@exa_mple.org",
        "claire\x00@example.org",
        "a" * 65 + "@example.org",  # local part over 64 characters
        "claire@" + "a" * 250 + ".org",  # over 254 characters
        "",
        "   ",
    ],
)
def test_what_is_not_an_address_is_refused(typed: str) -> None:
    assert normalise_email(typed) == ""


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("claire@example.org", "claire@example.org"),
        ("  Claire.Martin@Example.ORG \t", "claire.martin@example.org"),
        ("claire+factures@example.org", "claire+factures@example.org"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("agent@boe.test", "agent@boe.test"),  # RFC 6761's test name, for demos and tests
        # An internationalised domain is one address however it is typed.
        ("papa@EXÄMPLE.fr", "papa@exämple.fr"),
        ("papa@xn--exmple-cua.fr", "papa@exämple.fr"),
        ("papa@exa\u0308mple.fr", "papa@exämple.fr"),  # decomposed ä
        ("josé@example.org", "josé@example.org"),
    ],
)
def test_addresses_are_normalised(typed: str, stored: str) -> None:
    assert normalise_email(typed) == stored


def _library(email: str) -> str:
    try:
        checked = validate_email(
            email, check_deliverability=False, test_environment=True, strict=True
        )
    except EmailNotValidError:
        return ""
    return checked.normalized.lower()


@pytest.mark.parametrize(
    "email",
    [
        "claire@example.org",
        "c.l_a+i-re@sub.example.co.uk",
        "a@b.cd",
        "x" * 64 + "@example.org",
        "x" * 65 + "@example.org",
        "a@" + ("b" * 63 + ".") * 3 + "org",
        "a@" + ("b" * 63 + ".") * 4 + "org",
        "a@ex--ample.org",
        "a@xn--exmple-cua.fr",
        "a@-example.org",
        "a@example-.org",
        "a@example.c",
        "a@example.123",
        "a@example.local",
        "a@example.onion",
        "a@boe.test",
        ".a@example.org",
        "a.@example.org",
        "a..b@example.org",
        "a@example..org",
        "a@example.org.",
    ],
)
def test_the_fast_path_agrees_with_the_library(email: str) -> None:
    """What `_is_plain` accepts, the library accepts unchanged; the rest is the library's."""
    if addresses._is_plain(email):
        assert _library(email) == email
    assert normalise_email(email) == _library(email)


def test_the_fast_path_takes_the_common_addresses_only() -> None:
    assert addresses._is_plain("claire.martin+ecole@mairie-boe.example.org")
    assert not addresses._is_plain("josé@example.org")  # Unicode: the library's
    assert not addresses._is_plain("a@xn--exmple-cua.fr")  # IDNA: the library's
