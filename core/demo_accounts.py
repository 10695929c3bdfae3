"""The demo's published password and who may sign in: what the front page shows in demo mode
(PORTAIL_DEMO). A small module of its own, so the web application never loads `core.demo`
(its SMTP sink, the seeding)."""

from __future__ import annotations

from typing import Any

from core.accounts.tables import Account, PayerEmail

DEMO_PASSWORD = "demo-portail-2026"  # noqa: S105 (published demo credentials, on purpose)


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
