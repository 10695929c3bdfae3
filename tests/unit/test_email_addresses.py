"""The one check of the addresses people type (issue 11, item 17): `email-validator`'s syntax,
lower case, Unicode domains kept in one form."""

from __future__ import annotations

import pytest

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
