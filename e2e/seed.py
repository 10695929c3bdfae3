"""Add the end-to-end suite's own payers to the database (run before `portail serve`).

    python e2e/seed.py boe e2e-activation-desktop@example.org e2e-login-phone@example.org ...
    python e2e/seed.py boe --invoices factures.csv --password "…"

Settings come from the environment, as for the server (DATABASE_URL, PORTAIL_CONFIG): the
database must already be migrated (`portail seed-demo` does it).

- With addresses: one payer per address, none with an account: each scenario activates its
  own, so tests never share a password or an address.
- With `--invoices`: the payers and invoices of a billing export (`invoices_csv()`), imported
  as a commune's would be, then an active account with `--password` for each of their addresses
  (the payment journeys log in directly: activation has its own tests).

Idempotent: an address already known to the commune, an account that exists, an invoice already
imported are left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import io
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from core.settings import Settings

CSV_HEADER = (
    "reference_debiteur;nom_debiteur;emails;regie;numero_facture;reference_paiement;objet;"
    "date_emission;date_echeance;montant;montant_regle;statut;date_reglement;mode_reglement;"
    "numero_autorisation;prelevement;date_prelevement"
)


class InvoiceRow(NamedTuple):
    """An invoice of `invoices_csv()`; with an authorisation number, already paid online; with a
    mode ("chèque"...), already paid that way (the number is then its reference); on direct
    debit (`direct_debit`), taken on its due date, or on its payment's if paid."""

    payer_reference: str
    payer_name: str
    email: str
    regie: str
    number: str
    cents: int
    objet: str
    authorisation: str = ""
    mode: str = ""
    direct_debit: bool = False


def invoices_csv(rows: Iterable[InvoiceRow], today: dt.date | None = None) -> str:
    """A billing export of these invoices, issued 20 days ago and due in 30 days; the ones with
    an authorisation number or a mode were paid yesterday (online unless a mode is given), the
    others are still to pay."""
    today = today or dt.date.today()
    issued = (today - dt.timedelta(days=20)).strftime("%d/%m/%Y")
    due = (today + dt.timedelta(days=30)).strftime("%d/%m/%Y")
    paid_on = (today - dt.timedelta(days=1)).strftime("%d/%m/%Y")
    lines = [CSV_HEADER]
    for row in rows:
        amount = f"{row.cents // 100},{row.cents % 100:02d}"
        paid = bool(row.authorisation or row.mode)
        if paid:
            mode = row.mode or "en ligne"
            settlement = f"{amount};réglée;{paid_on};{mode};{row.authorisation}"
        else:
            settlement = ";à régler;;;"
        debit = f"oui;{paid_on if paid else due}" if row.direct_debit else "non;"
        lines.append(
            f"{row.payer_reference};{row.payer_name};{row.email};{row.regie};{row.number};;"
            f"{row.objet};{issued};{due};{amount};{settlement};{debit}"
        )
    return "\n".join(lines) + "\n"


def csv_addresses(data: str) -> list[str]:
    """The payers' addresses of a billing export."""
    lines = csv.DictReader(io.StringIO(data, newline=""), delimiter=";")
    return sorted(
        {e.strip().lower() for line in lines for e in line["emails"].split(",") if e.strip()}
    )


@contextlib.asynccontextmanager
async def commune_database(slug: str) -> AsyncIterator[tuple[Settings, int]]:
    """The portal's database (from the environment, as `portail serve` reads it), open, with
    the communes mirrored; yields the settings and the id of the commune `slug`."""
    from core import db
    from core.communes.services import sync_communes
    from core.settings import Settings
    from core.setup import load_checked_config

    settings = Settings.from_env()
    config = load_checked_config(settings.config_path)
    engine = db.use_database(settings.database_url)
    await db.open_database(engine)
    try:
        yield settings, (await sync_communes(config))[slug]
    finally:
        await db.close_database(engine)


async def seed(slug: str, emails: list[str]) -> int:
    from core import db
    from core.accounts.names import search_name
    from core.accounts.tables import Payer, PayerEmail

    added = 0
    async with commune_database(slug) as (_settings, commune_id), db.transaction():
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
                    search_name=search_name(f"E2E {email}"),
                )
            ).returning(Payer.id)
            await PayerEmail.insert(
                PayerEmail(commune=commune_id, payer=rows[0]["id"], email=email)
            )
            added += 1
    return added


async def seed_invoices(slug: str, data: str, password: str) -> tuple[int, int]:
    """Import a billing export into the commune, then give each of its addresses an active
    account.

    Returns (invoices created, accounts created).
    """
    from core.demo import add_active_account
    from core.invoices.importer import import_invoices
    from core.plugins import get_plugin_manager
    from core.security.passwords import hash_password
    from core.web.templates import build_jinja_env

    created = 0
    async with commune_database(slug) as (settings, commune_id):
        report = await import_invoices(
            commune_id,
            data,
            pdf_dir=None,
            data_dir=Path(settings.data_dir),
            env=build_jinja_env(settings, get_plugin_manager()),
            base_url=settings.base_url,
        )
        if report.errors:
            details = "; ".join(f"{e.line}/{e.column}: {e.message}" for e in report.errors[:5])
            raise RuntimeError(f"the e2e invoices do not import: {details}")
        password_hash = await hash_password(password)  # one hashing for every account
        for email in csv_addresses(data):
            created += await add_active_account(commune_id, email, password_hash)
    return report.created, created


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="seed.py", description=__doc__.splitlines()[0])
    parser.add_argument("commune", help="the commune's slug")
    parser.add_argument("addresses", nargs="*", help="payers to add, without an account")
    parser.add_argument("--invoices", type=Path, help="a billing export to import")
    parser.add_argument("--password", help="the password of the export's accounts")
    args = parser.parse_args(argv)
    if args.invoices is None:
        if not args.addresses:
            parser.error("give addresses, or --invoices")
        added = asyncio.run(seed(args.commune, args.addresses))
        print(f"e2e payers: {added} added to {args.commune}")
        return 0
    if args.addresses or not args.password:
        parser.error("--invoices takes --password, and no addresses")
    data = args.invoices.read_text("utf-8")
    invoices, accounts = asyncio.run(seed_invoices(args.commune, data, args.password))
    print(f"e2e invoices: {invoices} added to {args.commune}, with {accounts} active accounts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
