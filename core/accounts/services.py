"""Account journeys: activation, login, forgotten password, password and e-mail changes.

Handlers stay thin: they parse forms and pick responses; the rules live here. Every database
change is one transaction, and the e-mail it causes is written to the outbox inside it.
Messages a parent reads come from the `accounts` catalogue.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from core.accounts.sessions import HOLDER_NAME_SQL, bump_auth_version
from core.accounts.tables import Account, AccountPayer, AccountToken, PayerEmail
from core.clock import now
from core.communes.context import CommuneContext
from core.db import quick_read, transaction
from core.i18n import t
from core.mail.addresses import normalise_email
from core.mail.mailer import Mailer
from core.security import throttle
from core.security.passwords import (
    burn_password_check,
    hash_password,
    password_problems,
    verify_password,
)
from core.security.tokens import digest, new_secret, row_by_secret
from core.web.forms import Problems, RateLimited, field_problem

ACTIVATION_TTL = dt.timedelta(hours=48)
RESET_TTL = dt.timedelta(hours=2)
EMAIL_CHANGE_TTL = dt.timedelta(hours=24)
CHANGE_LINKS = ("reset", "email_change")
"""Links a password or e-mail change retires: none may outlive the change."""

# Rate limits: windows expire by themselves, so no one can lock a parent out for good.
# Failed logins of an address, from anywhere (a browser that logged in to it before is not
# stopped by them: `core.accounts.devices`), and from one client address; every login attempt
# of a client address (against password spraying).
LOGIN_PER_ADDRESS = throttle.Limit("login-address", max_hits=10, window_seconds=15 * 60)
LOGIN_PER_ADDRESS_CLIENT = throttle.Limit(
    "login-address-client", max_hits=10, window_seconds=15 * 60
)
LOGIN_PER_IP = throttle.Limit("login-ip", max_hits=60, window_seconds=15 * 60)
# Wrong current passwords on "Mes informations" (password and e-mail changes, account
# deletion), per account.
PASSWORD_CHECK_PER_ACCOUNT = throttle.Limit("password-check", max_hits=10, window_seconds=15 * 60)
LINK_PER_ADDRESS = throttle.Limit("link-address", max_hits=5, window_seconds=60 * 60)
LINK_PER_IP = throttle.Limit("link-ip", max_hits=30, window_seconds=60 * 60)


async def _throttle(limits: list[tuple[throttle.Limit, str]]) -> None:
    if not all(await throttle.hit_all([(key, limit) for limit, key in limits])):
        raise RateLimited


# --- Activation ----------------------------------------------------------------------------


async def accept_link_request(commune: CommuneContext, raw_email: str, client_ip: str) -> str:
    """What an activation or reset request does before its answer, the same for any address:
    check the address's syntax and count the request; returns the normalised address.

    The rest (`send_activation_link`, `send_reset_link`) runs after the answer, so neither its
    content nor its timing tells whether the address is known.
    """
    email = normalise_email(raw_email)
    if not email:
        raise field_problem("email", t("accounts.email_invalid"))
    await _throttle([(LINK_PER_ADDRESS, f"{commune.slug}:{email}"), (LINK_PER_IP, client_ip)])
    return email


async def send_activation_link(commune: CommuneContext, email: str, mailer: Mailer) -> None:
    """Send the activation link if the (normalised) address is a payer's.

    - known address, no active account: activation e-mail with a link;
    - an active account already: an e-mail saying so, pointing to "Mot de passe oublié";
    - unknown address: nothing is created and nothing is sent.
    """
    async with transaction():
        account = await _account_by_email(commune, email)
        if account is not None and account["state"] == "active":
            await mailer.send(
                commune,
                "activation_already_active",
                email,
                reset_link=mailer.link(commune, "mot-de-passe-oublie"),
            )
            return
        if account is not None and account["state"] != "pending":
            return  # a disabled account is treated as unknown
        if not await _payer_ids_for(commune.id, email):
            return
        if account is None:
            account_id = await _create_pending_account(commune, email)
        else:
            account_id = account["id"]
        secret = await _new_token(account_id, "activation", ACTIVATION_TTL)
        await mailer.send(
            commune,
            "activation",
            email,
            link=mailer.link(commune, f"activation/{secret}"),
            expires_at=now() + ACTIVATION_TTL,
        )


async def complete_activation(
    commune: CommuneContext, secret: str, password: str, confirmation: str
) -> tuple[int, int]:
    """Set the first password; returns (account id, auth version) to open a session."""
    token = await valid_token(commune, secret, "activation")
    if token is None:
        raise field_problem("token", t("accounts.link_invalid"))
    _check_password(commune, password, confirmation, token["email"])
    password_hash = await hash_password(password)
    async with transaction():
        if not await _consume_token(secret, "activation"):
            raise field_problem("token", t("accounts.link_invalid"))
        account_id = token["account_id"]
        await Account.update(
            {
                Account.password_hash: password_hash,
                Account.state: "active",
                Account.activated_at: now(),
            }
        ).where(Account.id == account_id)
        await link_payers(commune.id, account_id, token["email"])
        await _retire_tokens(account_id, "activation")
        auth_version = await bump_auth_version(account_id)
    return account_id, auth_version


# --- Login ---------------------------------------------------------------------------------


class LoggedIn(NamedTuple):
    """Who logged in: the session's account, its auth version and the header's name."""

    account_id: int
    auth_version: int
    holder_name: str


# A login's statements are written by hand: building them with Piccolo's query builder took
# more of the event loop's time than the database took to run them, and a burst of logins
# (alert e-mails) slowed every page. The account comes with the header's name (no second
# statement when its session opens).
LOGIN_ACCOUNT_QUERY = f"""
SELECT a.id, a.state, a.password_hash, a.auth_version,
       ({HOLDER_NAME_SQL.format(account="a.id")}) AS holder_name
FROM account a WHERE a.commune = {{}} AND a.email = {{}}
"""  # noqa: S608 (no value in the text)
# The rehashed password if the parameters changed since it was stored, else the stored one.
LOGGED_IN_STATEMENT = """
UPDATE account SET last_login_at = {}, password_hash = COALESCE({}, password_hash)
WHERE id = {}
"""


async def authenticate(
    commune: CommuneContext,
    raw_email: str,
    password: str,
    client_ip: str,
    *,
    known_device: bool = False,
) -> LoggedIn:
    """Check credentials. Unknown addresses cost a hash too.

    Failures are counted per address and per (address, client address); every attempt per
    client address. An attempt is counted before its password is checked (concurrent guesses
    cannot slip past a limit) and given back when it succeeds. A `known_device` (a browser
    that logged in to this address before) is not stopped by the address's failures, only by
    its own (address, client address) ones, so no one can keep a parent out of their devices.
    """
    email = normalise_email(raw_email)
    address = f"{commune.slug}:{email or raw_email[:254]}"
    failures = [(LOGIN_PER_ADDRESS_CLIENT, f"{address}|{client_ip}")]
    if not known_device:
        failures.append((LOGIN_PER_ADDRESS, address))
    await _throttle([(LOGIN_PER_IP, client_ip), *failures])
    rows = await quick_read(LOGIN_ACCOUNT_QUERY, commune.id, email) if email else []
    account = rows[0] if rows else None
    if account is None or account["state"] != "active":
        await burn_password_check(password)
        raise field_problem("form", t("accounts.login_failed"))
    ok, new_hash = await verify_password(account["password_hash"], password)
    if not ok:
        raise field_problem("form", t("accounts.login_failed"))
    # One statement, atomic by itself: no transaction around it, which on SQLite would hold
    # the write lock across turns of the event loop during a burst of logins.
    await Account.raw(LOGGED_IN_STATEMENT, now(), new_hash, account["id"])
    await throttle.reset(f"{address}|{client_ip}", LOGIN_PER_ADDRESS_CLIENT)
    if not known_device:
        await throttle.refund(address, LOGIN_PER_ADDRESS)
    return LoggedIn(
        int(account["id"]), int(account["auth_version"]), str(account["holder_name"] or "")
    )


# --- Forgotten password --------------------------------------------------------------------


async def send_reset_link(commune: CommuneContext, email: str, mailer: Mailer) -> None:
    """E-mail a single-use reset link to an active account; a never-activated payer address
    gets the activation link instead. The caller answers neutrally in every case."""
    account = await _account_by_email(commune, email)
    if account is None or account["state"] == "pending":
        await send_activation_link(commune, email, mailer)
        return
    if account["state"] != "active":
        return
    async with transaction():
        secret = await _new_token(account["id"], "reset", RESET_TTL)
        await mailer.send(
            commune,
            "password_reset",
            email,
            link=mailer.link(commune, f"mot-de-passe/{secret}"),
            expires_at=now() + RESET_TTL,
        )


async def complete_password_reset(
    commune: CommuneContext, secret: str, password: str, confirmation: str
) -> tuple[int, int]:
    token = await valid_token(commune, secret, "reset")
    if token is None:
        raise field_problem("token", t("accounts.link_invalid"))
    _check_password(commune, password, confirmation, token["email"])
    password_hash = await hash_password(password)
    async with transaction():
        if not await _consume_token(secret, "reset"):
            raise field_problem("token", t("accounts.link_invalid"))
        account_id = token["account_id"]
        await Account.update({Account.password_hash: password_hash}).where(Account.id == account_id)
        await _retire_tokens(account_id, *CHANGE_LINKS)
        auth_version = await bump_auth_version(account_id)  # ends every other session
    return account_id, auth_version


# --- Mes informations ----------------------------------------------------------------------


async def change_password(
    commune: CommuneContext, account_id: int, old: str, new: str, confirmation: str
) -> int:
    """Returns the new auth version: every session ends, the caller opens a fresh one."""
    account = await _account(account_id)
    problems = Problems()  # every error at once: the current password and the new one's rules
    with problems.collecting():
        await check_current_password(account, old, "old_password")
    with problems.collecting():
        _check_password(commune, new, confirmation, account["email"], field_name="new_password")
    if problems.errors:
        raise problems
    password_hash = await hash_password(new)
    async with transaction():
        await Account.update({Account.password_hash: password_hash}).where(Account.id == account_id)
        await _retire_tokens(account_id, *CHANGE_LINKS)
        return await bump_auth_version(account_id)


async def request_email_change(
    commune: CommuneContext, account_id: int, raw_email: str, password: str, mailer: Mailer
) -> str:
    """Send a validation link to the new address; the old one stays until it is followed."""
    account = await _account(account_id)
    new_email = normalise_email(raw_email)
    problems = Problems()  # every error at once: the new address and the password
    if not new_email:
        problems.add("new_email", t("accounts.email_invalid"))
    elif new_email == account["email"]:
        problems.add("new_email", t("accounts.email_unchanged"))
    with problems.collecting():
        await check_current_password(account, password, "password")
    if problems.errors:
        raise problems
    # Only once the password is right: whether an address has an account is not for anyone.
    if await _account_by_email(commune, new_email) is not None:
        raise field_problem("new_email", t("accounts.email_taken"))
    async with transaction():
        await _retire_tokens(account_id, "email_change")
        secret = await _new_token(account_id, "email_change", EMAIL_CHANGE_TTL, new_email=new_email)
        await mailer.send(
            commune,
            "email_change",
            new_email,
            link=mailer.link(commune, f"adresse/{secret}"),
            expires_at=now() + EMAIL_CHANGE_TTL,
        )
    return new_email


async def confirm_email_change(commune: CommuneContext, secret: str, mailer: Mailer) -> int:
    """Apply a validated e-mail change and tell the old address; returns the account's id."""
    token = await valid_token(commune, secret, "email_change")
    if token is None:
        raise field_problem("token", t("accounts.link_invalid"))
    new_email = token["new_email"]
    async with transaction():
        if await _account_by_email(commune, new_email) is not None:
            raise field_problem("token", t("accounts.email_taken"))
        if not await _consume_token(secret, "email_change"):
            raise field_problem("token", t("accounts.link_invalid"))
        await Account.update({Account.email: new_email}).where(Account.id == token["account_id"])
        await _retire_tokens(token["account_id"], *CHANGE_LINKS)
        await link_payers(commune.id, token["account_id"], new_email)
        await mailer.send(commune, "email_changed", token["email"], new_email=new_email)
    return int(token["account_id"])


# --- Tokens --------------------------------------------------------------------------------


async def valid_token(commune: CommuneContext, secret: str, purpose: str) -> dict | None:
    """The unused, unexpired token of `purpose` behind `secret`, for an account of `commune`."""
    row = await row_by_secret(
        AccountToken.token_hash,
        secret,
        AccountToken.id,
        AccountToken.new_email,
        AccountToken.expires_at,
        AccountToken.used_at,
        AccountToken.account.id.as_alias("account_id"),
        AccountToken.account.email.as_alias("email"),
        AccountToken.account.commune.as_alias("commune_id"),
        AccountToken.account.state.as_alias("state"),
        where=AccountToken.purpose == purpose,
    )
    if (
        row is None
        or row["commune_id"] != commune.id
        or row["used_at"] is not None
        or row["expires_at"] <= now()
        or row["state"] == "disabled"
    ):
        return None
    return row


async def _new_token(
    account_id: int, purpose: str, ttl: dt.timedelta, *, new_email: str = ""
) -> str:
    secret = new_secret()
    created = now()
    await AccountToken.insert(
        AccountToken(
            account=account_id,
            purpose=purpose,
            token_hash=digest(secret),
            new_email=new_email,
            created_at=created,
            expires_at=created + ttl,
        )
    )
    return secret


async def _consume_token(secret: str, purpose: str) -> bool:
    """Mark the token used; False if another request used it first (single use)."""
    used = (
        await AccountToken.update({AccountToken.used_at: now()})
        .where(
            (AccountToken.token_hash == digest(secret))
            & (AccountToken.purpose == purpose)
            & AccountToken.used_at.is_null()
        )
        .returning(AccountToken.id)
    )
    return bool(used)


async def _retire_tokens(account_id: int, *purposes: str) -> None:
    """Mark the account's open tokens of these purposes used (within the caller's transaction)."""
    await AccountToken.update({AccountToken.used_at: now()}).where(
        (AccountToken.account == account_id)
        & AccountToken.purpose.is_in(list(purposes))
        & AccountToken.used_at.is_null()
    )


# --- Helpers -------------------------------------------------------------------------------


async def check_current_password(account: dict, password: str, field_name: str) -> None:
    """The current password, checked like a login: failures only, per account."""
    key = str(account["id"])
    if not await throttle.hit(key, PASSWORD_CHECK_PER_ACCOUNT):
        raise RateLimited
    ok, _ = await verify_password(account["password_hash"], password)
    if not ok:
        raise field_problem(field_name, t("accounts.old_password_wrong"))
    await throttle.reset(key, PASSWORD_CHECK_PER_ACCOUNT)


async def _account(account_id: int) -> dict:
    account = await Account.select().where(Account.id == account_id).first()
    if account is None:  # the session was checked a moment ago; only a deletion gets here
        raise LookupError(f"account {account_id} vanished")
    return account


async def _account_by_email(commune: CommuneContext, email: str) -> dict | None:
    return (
        await Account.select()
        .where((Account.commune == commune.id) & (Account.email == email))
        .first()
    )


async def _payer_ids_for(commune_id: int, email: str) -> list[int]:
    rows = await PayerEmail.select(PayerEmail.payer).where(
        (PayerEmail.commune == commune_id) & (PayerEmail.email == email)
    )
    return sorted({row["payer"] for row in rows})


async def _create_pending_account(commune: CommuneContext, email: str) -> int:
    rows = await Account.insert(
        Account(commune=commune.id, email=email, state="pending", created_at=now())
    ).returning(Account.id)
    return int(rows[0]["id"])


async def link_payers(commune_id: int, account_id: int, email: str) -> None:
    """Let the account see every payer of its commune that the billing service knows by `email`."""
    linked = {
        row["payer"]
        for row in await AccountPayer.select(AccountPayer.payer).where(
            AccountPayer.account == account_id
        )
    }
    new = [p for p in await _payer_ids_for(commune_id, email) if p not in linked]
    if new:
        await AccountPayer.insert(*[AccountPayer(account=account_id, payer=p) for p in new])


def _check_password(
    commune: CommuneContext,
    password: str,
    confirmation: str,
    email: str,
    *,
    field_name: str = "password",
) -> None:
    messages = password_problems(
        password, confirmation, min_length=commune.config.password_min_length, email=email
    )
    if messages:
        problems = Problems()
        for message in messages:
            problems.add(field_name, message)
        raise problems
