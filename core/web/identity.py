"""Who is signed in, as pages and plugin hooks see it (the lookup is `core.accounts`' job)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignedIn:
    """The parent's account behind a valid session cookie."""

    account_id: int
    email: str
    session_hash: str
    persistent: bool
    display_name: str = ""
    """The name the header shows (the account's first payer), as it was at login."""


class LoginRequired(Exception):
    """Raised by pages that need someone signed in; answered with a redirect to the login page
    under `root` (`<root>connexion`), or to another step of signing in (`step`)."""

    def __init__(self, root: str, step: str = "connexion") -> None:
        super().__init__(root)
        self.root = root
        self.target = root + step
