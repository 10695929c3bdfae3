"""E-mail addresses as the portal stores and compares them.

Every address a person types (activation, forgotten password, new e-mail, alert addresses,
contact form, agents, the import's `emails` column) goes through `normalise_email`: the syntax
is checked by `email-validator` (RFC 5321/5322 as mail servers accept it; no DNS look-up), so
`someone@example.com/../../etc/passwd`, spaces, a quoted local part, an IP address after the @
or a local part over 64 characters are refused. A login does not validate: what is not an
address simply matches no account.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email


def normalise_email(raw: str) -> str:
    """Trimmed, NFC, lower-case; "" when it is not a valid address.

    An internationalised domain is kept in its Unicode form, however it was typed
    (`x@xn--exmple-cua.fr` and `x@EXÄMPLE.fr` are both `x@exämple.fr`), so one address is
    one account. The special-use name `.test` (RFC 6761) is accepted for demos and tests;
    the other reserved names (`localhost`, `.local`, `.invalid`, `.onion`, `.arpa`) are not.
    """
    text = unicodedata.normalize("NFC", raw or "").strip()
    if not text:
        return ""
    try:
        checked = validate_email(
            text,
            check_deliverability=False,  # syntax only: no DNS look-up
            test_environment=True,  # accepts `.test`
            strict=True,  # also the 64-character limit of the local part (RFC 5321)
        )
    except EmailNotValidError:
        return ""
    return checked.normalized.lower()
