"""E-mail addresses as the portal stores and compares them.

Every address a person types (activation, forgotten password, new e-mail, alert addresses,
contact form, agents, the import's `emails` column) goes through `normalise_email`: the syntax
is checked by `email-validator` (RFC 5321/5322 as mail servers accept it; no DNS look-up), so
`someone@example.com/../../etc/passwd`, spaces, a quoted local part, an IP address after the @
or a local part over 64 characters are refused. A login does not validate: what is not an
address simply matches no account.
"""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

# The common case, decided without the library (an import reads tens of thousands of addresses,
# and the library takes some 25 µs each): lower-case ASCII that email-validator accepts as it
# is. Anything else, including what this refuses, is the library's to decide.
_PLAIN = re.compile(
    r"(?P<local>[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?P<tld>[a-z]{2,63}))"
)
_RESERVED_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion"})


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
    if _is_plain(text.lower()):
        return text.lower()
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


def _is_plain(email: str) -> bool:
    """Whether `email` is in the simple form the library accepts unchanged (see `_PLAIN`)."""
    match = _PLAIN.fullmatch(email)
    return (
        match is not None
        and len(match["local"]) <= 64
        and len(email) <= 254
        and "--" not in match["domain"]  # IDNA rules for such labels: the library's job
        and match["tld"] not in _RESERVED_TLDS
    )
