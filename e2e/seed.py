"""Add the end-to-end suite's own payers to the database (run before `portail serve`).

    python e2e/seed.py boe e2e-activation-desktop@example.org e2e-login-phone@example.org ...

Settings come from the environment, as for the server (DATABASE_URL, PORTAIL_CONFIG): the
database must already be migrated (`portail seed-demo` does it). One payer per address, none
with an account: each scenario activates its own, so tests never share a password or an address.
Idempotent: an address already known to the commune is skipped.
"""

from __future__ import annotations

import asyncio
import sys


async def seed(slug: str, emails: list[str]) -> int:
    from core import db
    from core.accounts.tables import Payer, PayerEmail
    from core.cli import load_checked_config
    from core.communes.services import sync_communes
    from core.settings import Settings

    settings = Settings.from_env()
    config = load_checked_config(settings.config_path)
    engine = db.use_database(settings.database_url)
    await db.open_database(engine)
    added = 0
    try:
        commune_id = (await sync_communes(config))[slug]
        async with db.transaction():
            for email in emails:
                email = email.strip().lower()
                known = await PayerEmail.exists().where(
                    (PayerEmail.commune == commune_id) & (PayerEmail.email == email)
                )
                if known:
                    continue
                rows = await Payer.insert(
                    Payer(
                        commune=commune_id,
                        external_ref=email.partition("@")[0][:64],
                        name=f"E2E {email}",
                    )
                ).returning(Payer.id)
                await PayerEmail.insert(
                    PayerEmail(commune=commune_id, payer=rows[0]["id"], email=email)
                )
                added += 1
    finally:
        await db.close_database(engine)
    return added


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: seed.py <commune slug> <address>...", file=sys.stderr)
        return 2
    added = asyncio.run(seed(argv[0], argv[1:]))
    print(f"e2e payers: {added} added to {argv[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
