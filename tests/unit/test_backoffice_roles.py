"""The back office's permission matrix, role by role."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.backoffice.roles import PERMISSIONS, can, permissions_of
from core.backoffice.tables import ROLES

# Permission: (lecteur, gestionnaire, administrateur, superviseur)
MATRIX: dict[str, tuple[bool, bool, bool, bool]] = {
    "dashboard.read": (True, True, True, True),
    "invoices.import": (False, True, True, True),
    "payments.read": (True, True, True, True),
    "payments.review": (False, True, True, True),
    "payments.export": (False, True, True, True),
    "suspension.write": (False, True, True, True),
    "messages.write": (False, True, True, True),
    "contact.read": (True, True, True, True),
    "contact.reply": (False, True, True, True),
    "families.read": (True, True, True, True),
    "families.write": (False, True, True, True),
    "families.invite": (False, True, True, True),
    "journal.read": (False, False, True, True),
    "agents.manage": (False, False, True, True),
    "api_keys.manage": (False, False, True, True),
    "exports.personal": (False, True, True, True),
}
ORDER = ("lecteur", "gestionnaire", "administrateur", "superviseur")


@dataclass(frozen=True)
class FakeAgent:
    role: str
    disabled: bool = False


def test_the_matrix_names_every_permission_and_role() -> None:
    assert set(MATRIX) == set(PERMISSIONS)
    assert set(ORDER) == set(ROLES)


@pytest.mark.parametrize("permission", sorted(MATRIX))
@pytest.mark.parametrize("role", ORDER)
def test_matrix(role: str, permission: str) -> None:
    expected = MATRIX[permission][ORDER.index(role)]
    assert can(FakeAgent(role), permission) is expected


def test_lecteur_reads_but_exports_nothing_personal() -> None:
    granted = permissions_of("lecteur")
    assert all(p.endswith(".read") for p in granted)
    assert not any("export" in p for p in granted)


def test_administrateur_and_superviseur_can_do_everything() -> None:
    assert permissions_of("administrateur") == set(PERMISSIONS)
    assert permissions_of("superviseur") == set(PERMISSIONS)


def test_a_disabled_agent_can_do_nothing() -> None:
    assert not any(can(FakeAgent("superviseur", disabled=True), p) for p in PERMISSIONS)


def test_unknown_role_or_permission() -> None:
    assert not can(FakeAgent("maire"), "dashboard.read")
    with pytest.raises(KeyError):
        can(FakeAgent("administrateur"), "dashbaord.read")
