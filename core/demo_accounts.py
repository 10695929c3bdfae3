"""The demo's published password and who may sign in: what the front page shows in demo mode
(PORTAIL_DEMO). A small module of its own, so the web application never loads `core.demo`
(its SMTP sink, the seeding)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from core.accounts.tables import Account, PayerEmail
from core.backoffice.identity import INFO_COLUMNS, agent_info
from core.backoffice.tables import ADMINISTRATEUR, GESTIONNAIRE, Agent
from core.backoffice.totp import provisioning_uri, qr_svg

DEMO_PASSWORD = "demo-portail-2026"  # noqa: S105 (published demo credentials, on purpose)

DEMO_AGENTS: list[tuple[str, str, str]] = [
    ("boe", "gestionnaire@boe.example.org", GESTIONNAIRE),
    ("aure", "gestionnaire@aure.example.org", GESTIONNAIRE),
    ("boe", "administrateur@boe.example.org", ADMINISTRATEUR),
]
"""The demo's agents (commune, address, role); their password is `DEMO_PASSWORD`."""
DEMO_TOTP_SECRET = "DEMOPORTAILBOEADMINISTRATEUR2345"  # noqa: S105 (published, on purpose)
"""The second factor of the demo's administrators, already enabled: shown on the front page so
anyone can add it to an authenticator app."""


async def demo_people() -> list[dict[str, Any]]:
    """The demo payers' addresses, so a visitor knows which one to activate."""
    people = (
        await PayerEmail.select(
            PayerEmail.email,
            PayerEmail.commune,
            PayerEmail.payer.name.as_alias("name"),
            PayerEmail.commune.slug.as_alias("slug"),
        )
        .order_by(PayerEmail.commune)
        .order_by(PayerEmail.email)
        .limit(50)
    )
    active = {
        (row["commune"], row["email"])
        for row in await Account.select(Account.commune, Account.email).where(
            Account.state == "active"
        )
    }
    return [{**p, "active": (p["commune"], p["email"]) in active} for p in people]


async def demo_agents() -> list[dict[str, Any]]:
    """The demo's agents that the seeding created, with the administrator's TOTP secret and its
    QR code (a newcomer scans it, then signs in to the back office)."""
    addresses = [email for _, email, _ in DEMO_AGENTS]
    rows = (
        await Agent.select(*INFO_COLUMNS, Agent.password_hash, Agent.commune.slug.as_alias("slug"))
        .where(Agent.email.is_in(addresses) & Agent.password_hash.is_not_null())
        .order_by(Agent.commune)
        .order_by(Agent.role, ascending=False)
    )
    agents = []
    for row in rows:
        agent = agent_info(row)
        totp = agent.totp_enabled and agent.role == ADMINISTRATEUR
        uri = provisioning_uri(DEMO_TOTP_SECRET, agent, None) if totp else ""
        agents.append(
            {
                "slug": row["slug"],
                "email": agent.email,
                "role": agent.role,
                "totp_secret": DEMO_TOTP_SECRET if totp else "",
                "qr": Markup(qr_svg(uri)) if totp else "",  # noqa: S704 (segno's own SVG)
            }
        )
    return agents
