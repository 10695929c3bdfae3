"""Password hashing (Argon2id) and the password policy.

Hashing follows OWASP's Password Storage Cheat Sheet: Argon2id, 19 MiB of memory, 2 iterations,
1 degree of parallelism. It runs in a worker thread at a lower CPU priority: the event loop
never blocks on it, and pages stay fast while logins queue.

The policy follows NIST SP 800-63B: a minimum length, a generous maximum, no composition rules,
and a refusal of the most common passwords and of the user's own e-mail address.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
import threading
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core import db
from core.i18n import t

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Argon2id parameters: OWASP's minimum recommendation (m=19 MiB, t=2, p=1).
ARGON2_TIME_COST = 2
"""Iterations over the memory."""
ARGON2_MEMORY_COST_KIB = 19456
"""Memory per hash, in KiB (19 MiB)."""
ARGON2_PARALLELISM = 1
"""Lanes (threads) per hash."""
ARGON2_HASH_LEN = 32
"""Length of the derived key, in bytes."""
ARGON2_SALT_LEN = 16
"""Length of the random salt, in bytes."""

DEFAULT_MIN_LENGTH = 12
"""Minimum length when the commune's configuration does not say."""
MIN_LENGTH_FLOOR = 8
"""No configuration may ask for less than this."""
MAX_LENGTH = 128
"""Longest password accepted (passphrases welcome; bounds the hashing work)."""

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"

_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_COST_KIB,
    parallelism=ARGON2_PARALLELISM,
    hash_len=ARGON2_HASH_LEN,
    salt_len=ARGON2_SALT_LEN,
    type=Type.ID,
)


def _normalise(password: str) -> str:
    """NFC form, so the same password typed on different systems gives the same bytes."""
    return unicodedata.normalize("NFC", password)


# --- Hashing ---------------------------------------------------------------------------------


HASHING_NICENESS_STEPS = 10
"""How far below the rest of the process the hashing threads run (Linux `nice` steps; 19 is the
lowest). A parent's page takes about a millisecond of CPU and a hash about 30: at the same
priority, 20 logins at once took the core from the pages in flight (the page's p99 six to twelve
times its idle value, bench/pages.py "logins"). Ten steps down, a hash gets what the pages leave
first, yet still about a tenth of a saturated core, so logins never stop."""


@functools.cache
def _hashing_pool() -> ThreadPoolExecutor:
    """One thread per core, shared by the process's event loops: more threads than cores would
    starve the event loop (bench/password_hashing.py: worst loop lag 33 ms with anyio's 40
    threads, 4 ms with one per core). Further hashes wait for a thread, in order."""
    return ThreadPoolExecutor(
        max_workers=os.cpu_count() or 1,
        thread_name_prefix="argon2",
        initializer=_lower_thread_priority,
    )


def _lower_thread_priority() -> None:
    """Run this thread `HASHING_NICENESS_STEPS` below the process (at most at 19). On Linux
    each thread has its own nice value; elsewhere the call would lower the whole process, the
    event loop with it, so it is skipped. The pool's threads do nothing but hash (raising a
    priority back needs privileges)."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        niceness = os.getpriority(os.PRIO_PROCESS, thread) + HASHING_NICENESS_STEPS
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness, 19))
    except OSError:  # a sandbox that forbids it: hash at the process's priority
        logger.warning("Could not lower the password hashing threads' CPU priority")


async def _in_hashing_thread(function: Callable[..., T], *args: Any) -> T:
    await db.release_request_connection()  # a queued hash may wait a while: no idle connection
    return await asyncio.get_running_loop().run_in_executor(_hashing_pool(), function, *args)


async def hash_password(password: str) -> str:
    """The Argon2id hash of `password` (PHC string), computed in a worker thread."""
    return await _in_hashing_thread(_hasher.hash, _normalise(password))


async def verify_password(stored_hash: str, password: str) -> tuple[bool, str | None]:
    """Whether `password` matches `stored_hash`, and a new hash to store when the stored one
    was made with other parameters (None otherwise, or when the password is wrong).

    An empty or malformed stored hash (e.g. an account not activated yet) is a mismatch; it
    still costs one hashing so it cannot be told apart by timing.
    """
    return await _in_hashing_thread(_verify_sync, stored_hash, _normalise(password))


def _verify_sync(stored_hash: str, password: str) -> tuple[bool, str | None]:
    try:
        _hasher.verify(stored_hash, password)
    except VerifyMismatchError:
        return False, None
    except (InvalidHashError, VerificationError):
        _burn_sync(password)
        return False, None
    if _hasher.check_needs_rehash(stored_hash):
        return True, _hasher.hash(password)
    return True, None


async def burn_password_check(password: str) -> None:
    """Spend the time of a real verification (a login for an unknown address), so response
    times do not reveal which addresses have an account."""
    await _in_hashing_thread(_burn_sync, _normalise(password))


@functools.cache
def _dummy_hash() -> str:
    """A hash with the current parameters, computed once, to verify against for nothing."""
    return _hasher.hash("portail-des-factures: no such account")


def _burn_sync(password: str) -> None:
    with contextlib.suppress(VerificationError):
        _hasher.verify(_dummy_hash(), password)


# --- Policy ----------------------------------------------------------------------------------


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of the most common passwords, lower-case."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(
        _normalise(line.strip()).lower()
        for line in lines
        if line.strip() and not line.startswith("#")
    )


def is_common(password: str) -> bool:
    return _normalise(password).lower() in common_passwords()


def effective_min_length(min_length: int) -> int:
    """The commune's minimum, never below `MIN_LENGTH_FLOOR`."""
    return max(MIN_LENGTH_FLOOR, min_length)


def password_problems(
    password: str, confirmation: str, *, min_length: int, email: str = ""
) -> list[str]:
    """The French messages for every rule `password` breaks; empty when it is acceptable."""
    if not password:
        return [t("password.missing")]
    normalised = _normalise(password)
    minimum = effective_min_length(min_length)
    problems: list[str] = []
    if len(normalised) < minimum:
        problems.append(t("password.too_short", min=minimum))
    elif len(normalised) > MAX_LENGTH:
        problems.append(t("password.too_long", max=MAX_LENGTH))
    if normalised != _normalise(confirmation):
        problems.append(t("password.mismatch"))
    if is_common(normalised):
        problems.append(t("password.too_common"))
    if _is_email_like(normalised, email):
        problems.append(t("password.same_as_email"))
    return problems


def _is_email_like(password: str, email: str) -> bool:
    address = _normalise(email).strip().lower()
    if not address:
        return False
    local_part = address.partition("@")[0]
    candidate = password.strip().lower()
    return candidate == address or (bool(local_part) and candidate == local_part)
