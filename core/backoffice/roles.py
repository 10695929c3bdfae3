"""What each role may do in a commune's back office: one table, one function.

- lecteur: reads (dashboard, payments, messages, families) but exports nothing personal;
- gestionnaire: works on invoices, payments (suspending online payment too), messages and
  families;
- administrateur: everything, in the agent's commune (agents, API keys, journal);
- superviseur: like an administrateur, in every commune.

Which commune an agent may act in is the session's business (`agent_from_session`); `can()`
answers only for the role. An unknown permission raises, so a typo fails the tests.
"""

from __future__ import annotations

from typing import Protocol

from core.backoffice.tables import ADMINISTRATEUR, GESTIONNAIRE, LECTEUR, SUPERVISEUR

_EVERYONE = frozenset({LECTEUR, GESTIONNAIRE, ADMINISTRATEUR, SUPERVISEUR})
_WORKERS = frozenset({GESTIONNAIRE, ADMINISTRATEUR, SUPERVISEUR})
_ADMINS = frozenset({ADMINISTRATEUR, SUPERVISEUR})

PERMISSIONS: dict[str, frozenset[str]] = {
    "dashboard.read": _EVERYONE,
    "invoices.import": _WORKERS,
    "payments.read": _EVERYONE,
    "payments.review": _WORKERS,
    "payments.export": _WORKERS,
    "suspension.write": _WORKERS,  # gestionnaires manage payments, suspensions included
    "messages.write": _WORKERS,
    "contact.read": _EVERYONE,
    "contact.reply": _WORKERS,
    "families.read": _EVERYONE,
    "families.write": _WORKERS,
    "families.invite": _WORKERS,
    "journal.read": _ADMINS,
    "agents.manage": _ADMINS,
    "api_keys.manage": _ADMINS,
    "exports.personal": _WORKERS,
}
"""Permission -> the roles that hold it."""


class HasRole(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def disabled(self) -> bool: ...


def can(agent: HasRole, permission: str) -> bool:
    """Whether `agent`'s role holds `permission`; a disabled agent can do nothing."""
    roles = PERMISSIONS[permission]
    return not agent.disabled and agent.role in roles


def permissions_of(role: str) -> frozenset[str]:
    """Every permission of `role` (for a page listing what a role may do)."""
    return frozenset(name for name, roles in PERMISSIONS.items() if role in roles)
