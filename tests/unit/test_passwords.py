"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import unicodedata

import pytest
from argon2 import PasswordHasher, Type

from core.security import passwords
from core.security.passwords import (
    MAX_LENGTH,
    burn_password_check,
    common_passwords,
    hash_password,
    password_problems,
    verify_password,
)

GOOD = "cheval-agrafe-pile-correct"
MISSING = "Veuillez choisir un mot de passe."
MISMATCH = "Les deux mots de passe ne sont pas identiques."
TOO_COMMON = (
    "Ce mot de passe fait partie des plus courants et serait trop facile à deviner : "
    "choisissez-en un autre."
)
SAME_AS_EMAIL = "Le mot de passe ne doit pas reprendre votre adresse e-mail."


def too_short(minimum: int) -> str:
    return f"Le mot de passe doit contenir au moins {minimum} caractères."


# --- Policy ----------------------------------------------------------------------------------


def test_good_password_has_no_problem() -> None:
    assert password_problems(GOOD, GOOD, min_length=12, email="parent@example.fr") == []


def test_missing_password() -> None:
    assert password_problems("", "", min_length=12) == [MISSING]


def test_too_short() -> None:
    assert password_problems("k7#pQz!w", "k7#pQz!w", min_length=12) == [too_short(12)]


def test_min_length_is_clamped_to_eight() -> None:
    assert password_problems("k7#pQz!", "k7#pQz!", min_length=4) == [too_short(8)]
    assert password_problems("k7#pQz!w", "k7#pQz!w", min_length=4) == []
    assert passwords.effective_min_length(0) == 8
    assert passwords.effective_min_length(15) == 15


def test_length_counts_unicode_characters_after_nfc() -> None:
    # Twelve characters, each "é" typed decomposed (e + combining accent): 18 code points.
    decomposed = unicodedata.normalize("NFD", "étéprévuéçà")
    assert len(decomposed) > 12
    assert password_problems(decomposed, decomposed, min_length=12) == [too_short(12)]
    composed = "étéprévuéçàx"
    assert password_problems(composed, unicodedata.normalize("NFD", composed), min_length=12) == []


def test_64_characters_accepted() -> None:
    password = "une phrase de passe assez longue pour tenir soixante-quatre car."
    assert len(password) == 64
    assert password_problems(password, password, min_length=12) == []


def test_max_length() -> None:
    longest = "x7" * (MAX_LENGTH // 2)
    assert password_problems(longest, longest, min_length=12) == []
    too_long = longest + "z"
    assert password_problems(too_long, too_long, min_length=12) == [
        "Le mot de passe ne doit pas dépasser 128 caractères."
    ]


def test_confirmation_differs() -> None:
    assert password_problems(GOOD, GOOD + "x", min_length=12) == [MISMATCH]


@pytest.mark.parametrize(
    "password",
    ["motdepasse", "azerty123", "123456789012", "Marseille", "JETAIME", "doudou", "password"],
)
def test_common_passwords_refused(password: str) -> None:
    assert TOO_COMMON in password_problems(password, password, min_length=8)


def test_common_long_password_alone() -> None:
    assert password_problems("123456789012", "123456789012", min_length=12) == [TOO_COMMON]


def test_common_list_loaded() -> None:
    words = common_passwords()
    assert len(words) >= 10_000
    for word in ["azerty", "motdepasse", "soleil", "doudou", "marseille", "loulou", "chouchou"]:
        assert word in words
    assert not any(word.startswith("#") for word in words)
    assert common_passwords() is words  # loaded once


def test_equal_to_email_or_local_part() -> None:
    email = "Jeanne.Martin-Durand@example.fr"
    local = "jeanne.martin-durand"
    assert password_problems(local, local, min_length=12, email=email) == [SAME_AS_EMAIL]
    address = email.upper()
    assert password_problems(address, address, min_length=12, email=email) == [SAME_AS_EMAIL]
    assert password_problems(GOOD, GOOD, min_length=12, email=email) == []


def test_several_problems_reported() -> None:
    assert password_problems("azerty", "azerty1", min_length=12) == [
        too_short(12),
        MISMATCH,
        TOO_COMMON,
    ]


def test_no_composition_rules() -> None:
    lower_only = "pommes poires et scoubidous"
    assert password_problems(lower_only, lower_only, min_length=12) == []


# --- Hashing ---------------------------------------------------------------------------------


async def test_hash_uses_argon2id_with_owasp_parameters() -> None:
    stored = await hash_password(GOOD)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_hash_verify_roundtrip() -> None:
    stored = await hash_password(GOOD)
    assert await verify_password(stored, GOOD) == (True, None)


async def test_hashes_are_salted() -> None:
    assert await hash_password(GOOD) != await hash_password(GOOD)


async def test_wrong_password() -> None:
    stored = await hash_password(GOOD)
    assert await verify_password(stored, GOOD + "!") == (False, None)


async def test_unicode_forms_verify_alike() -> None:
    stored = await hash_password(unicodedata.normalize("NFD", "café-crème-brûlée"))
    ok, _ = await verify_password(stored, unicodedata.normalize("NFC", "café-crème-brûlée"))
    assert ok


async def test_empty_or_malformed_hash_is_a_mismatch() -> None:
    assert await verify_password("", GOOD) == (False, None)
    assert await verify_password("not a hash", GOOD) == (False, None)


async def test_rehash_when_parameters_were_weaker() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    stored = weak.hash(GOOD)
    ok, new_hash = await verify_password(stored, GOOD)
    assert ok
    assert new_hash is not None
    assert new_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await verify_password(new_hash, GOOD) == (True, None)
    # No new hash for a wrong password.
    assert await verify_password(stored, "wrong") == (False, None)


async def test_burn_password_check_runs() -> None:
    await burn_password_check(GOOD)
    await burn_password_check("")


# --- Hashing threads -------------------------------------------------------------------------


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are Linux's")
async def test_hashes_run_below_the_event_loops_cpu_priority() -> None:
    """Pages keep the CPU while logins hash (bench/pages.py "logins"): the hashing threads run
    `HASHING_NICENESS_STEPS` below the event loop, which keeps its own priority."""
    loop_niceness = _niceness()
    assert await verify_password(await hash_password(GOOD), GOOD) == (True, None)
    hashing_niceness = await asyncio.get_running_loop().run_in_executor(
        passwords._hashing_pool(), _niceness
    )
    assert hashing_niceness == min(loop_niceness + passwords.HASHING_NICENESS_STEPS, 19)
    assert _niceness() == loop_niceness


async def test_no_more_hashes_at_once_than_cores() -> None:
    """More hashing threads than cores would starve the event loop (bench/password_hashing.py)."""
    assert passwords._hashing_pool()._max_workers == (os.cpu_count() or 1)
