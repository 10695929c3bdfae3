"""Invoice import speed: 100,000 CSV lines on SQLite and on PostgreSQL, with 10,000 alerts.

    .venv/bin/python bench/import_invoices.py                 # SQLite, PostgreSQL if it answers
    .venv/bin/python bench/import_invoices.py --postgres URL  # a PostgreSQL server to use
    .venv/bin/python bench/import_invoices.py --no-postgres --lines 20000

1. Writes a CSV export of `--lines` lines (default 100,000: 20,000 payers x 5 invoices, one
   or two e-mail addresses each, every state, direct debit for one payer in ten) to a
   temporary file.
2. For each engine: a fresh database (a temporary SQLite file; on PostgreSQL a database it
   creates on the server and drops at the end), migrated with the real migrations, one commune
   with three régies, and 10,000 active accounts inserted directly, whose addresses are those
   of the first 10,000 payers: the first import links them and queues their alerts.
3. Times `core.invoices.importer.import_invoices` on that file three times:
   - first import: every payer and invoice created, 10,000 accounts linked, 10,000 alerts;
   - re-import of the same file: nothing changes;
   - a changed file: one invoice in ten paid by cheque, plus one new invoice for every tenth
     payer (updates, inserts and the alerts of those new invoices).
   Each prints lines/s, the report's counts, the time of each phase, and the worst delay of a
   5 ms ticker running on the event loop meanwhile (does the import block a web process?).

The target is 10,000 lines/s on both engines; exits 1 when a first import is slower.
The server URL comes from `--postgres`, else PORTAIL_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/test when something answers there.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from core import db, db_bulk
from core.accounts.tables import Account, AccountPayer
from core.communes.services import sync_communes
from core.config import parse_config
from core.invoices.importer import ImportReport, import_invoices
from core.mail.tables import OutboundEmail
from core.plugins import get_plugin_manager
from core.settings import Settings
from core.web.templates import build_jinja_env

TARGET_LINES_PER_SECOND = 10_000
TICK_SECONDS = 0.005
INVOICES_PER_PAYER = 5
ACTIVE_ACCOUNTS = 10_000
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
HEADER = (
    "reference_debiteur;nom_debiteur;emails;regie;numero_facture;reference_paiement;objet;"
    "date_emission;date_echeance;montant;montant_regle;statut;date_reglement;mode_reglement;"
    "numero_autorisation;prelevement;date_prelevement"
)
CONFIG = {
    "communes": [
        {
            "slug": "bench",
            "name": "Ville de Banc d'Essai",
            "contact": {"email": "facturation@bench.example.org"},
            "regies": [
                {"code": "CANT", "name": "Restauration scolaire"},
                {"code": "PERI", "name": "Périscolaire"},
                {"code": "ALSH", "name": "Accueil de loisirs"},
            ],
        }
    ]
}
REGIES = ("CANT", "PERI", "ALSH")
MODES = ("chèque", "espèces", "en ligne", "virement", "carte")


def payer_emails(payer: int) -> list[str]:
    emails = [f"parent{payer}@example.org"]
    if payer % 4 == 0:
        emails.append(f"second{payer}@example.org")
    return emails


def invoice_line(payer: int, k: int, *, paid_by_cheque: bool = False) -> str:
    month = 1 + (k % 9)
    number = f"F{payer:06d}-{k:02d}"
    amount_cents = 1_500 + (payer * 37 + k * 101) % 20_000
    amount = f"{amount_cents // 100},{amount_cents % 100:02d}"
    direct_debit = payer % 10 == 0
    kind = (payer + k) % 10
    issued, due = f"05/{month:02d}/2026", f"28/{month:02d}/2026"
    paid = status = paid_on = mode = auth = debit_on = ""
    if paid_by_cheque:
        status, paid, paid_on, mode = "réglée", amount, f"20/{month:02d}/2026", "chèque"
    elif direct_debit:
        status, debit_on = "à régler", f"10/{month + 1:02d}/2026"
    elif kind < 6:
        status = "à régler"
    elif kind < 9:
        status, paid, paid_on, mode = "réglée", amount, f"15/{month:02d}/2026", MODES[kind % 5]
        auth = f"PF-{payer:06d}{k}" if mode == "en ligne" else ""
    else:
        status = "trésorerie"
    fields = [
        f"P-{payer:06d}",
        f"Famille {payer}",
        ", ".join(payer_emails(payer)),
        REGIES[k % 3],
        number,
        f"2026{payer:06d}{k:02d}",
        f"Restauration scolaire, mois {month}",
        issued,
        due,
        amount,
        paid,
        status,
        paid_on,
        mode,
        auth,
        "oui" if direct_debit else "non",
        debit_on,
    ]
    return ";".join(fields)


def write_csv(path: Path, lines: int, *, changed: bool = False) -> int:
    """The export; `changed`: 1 invoice in 10 paid by cheque, a new one for 1 payer in 10."""
    payers = max(1, lines // INVOICES_PER_PAYER)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\n")
        for payer in range(1, payers + 1):
            for k in range(INVOICES_PER_PAYER):
                cheque = changed and (payer * INVOICES_PER_PAYER + k) % 10 == 0
                out.write(invoice_line(payer, k, paid_by_cheque=cheque) + "\n")
                count += 1
            if changed and payer % 10 == 0:
                out.write(invoice_line(payer, INVOICES_PER_PAYER) + "\n")
                count += 1
    return count


async def loop_lag_during(work: asyncio.Future | asyncio.Task) -> float:
    """Worst delay (ms) of a `TICK_SECONDS` ticker while `work` runs."""
    worst = 0.0
    while not work.done():
        expected = time.perf_counter() + TICK_SECONDS
        await asyncio.sleep(TICK_SECONDS)
        worst = max(worst, (time.perf_counter() - expected) * 1000)
    return worst


async def timed_import(
    label: str, commune_id: int, path: Path, settings: Settings, data_dir: Path
) -> tuple[ImportReport, float]:
    env = build_jinja_env(settings, get_plugin_manager())
    data = await asyncio.to_thread(path.read_bytes)
    started = time.perf_counter()
    task = asyncio.create_task(
        import_invoices(
            commune_id,
            data,
            pdf_dir=None,
            data_dir=data_dir,
            env=env,
            base_url="https://factures.example.org",
        )
    )
    lag = await loop_lag_during(task)
    report = task.result()
    seconds = time.perf_counter() - started
    assert not report.errors, report.errors[:5]
    rate = report.lines / seconds
    phases = "  ".join(f"{name} {value:.2f}" for name, value in report.timings.items())
    print(
        f"  {label:<15} {report.lines:>7} lines in {seconds:6.2f} s: {rate:>8,.0f} lines/s   "
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"payers {report.payers_created}, alerts {report.alerts_queued}"
    )
    print(f"  {'':<15} phases (s): {phases}   worst event-loop delay {lag:.0f} ms")
    return report, rate


async def add_accounts(commune_id: int) -> None:
    """10,000 active accounts with the addresses of the first payers, inserted in bulk."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        (commune_id, f"parent{n}@example.org", "", "active", 1, now, now)
        for n in range(1, ACTIVE_ACCOUNTS + 1)
    ]
    async with db.transaction():
        await db_bulk.insert_many(
            "account",
            (
                "commune",
                "email",
                "password_hash",
                "state",
                "auth_version",
                "created_at",
                "activated_at",
            ),
            rows,
        )


async def run_engine(
    name: str, database_url: str, files: dict[str, Path], settings: Settings
) -> float:
    print(f"\n{name}: {redact(database_url)}")
    engine = db.use_database(database_url)
    await db.open_database(engine)
    try:
        await db.migrate()
        communes = await sync_communes(parse_config(CONFIG))
        commune_id = communes["bench"]
        await add_accounts(commune_id)
        with tempfile.TemporaryDirectory(prefix="portail-bench-data-") as data_dir:
            _, first = await timed_import(
                "first import", commune_id, files["first"], settings, Path(data_dir)
            )
            await timed_import("re-import", commune_id, files["first"], settings, Path(data_dir))
            await timed_import(
                "changed file", commune_id, files["changed"], settings, Path(data_dir)
            )
        links = await AccountPayer.count()
        accounts = await Account.count()
        queued = await OutboundEmail.count().where(OutboundEmail.status == "pending")
        print(f"  accounts {accounts}, account-payer links {links}, e-mails pending {queued}")
        return first
    finally:
        await db.close_database(engine)


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(parts.password, "***"))
    return urlunsplit(parts)


async def postgres_server(arg: str | None, disabled: bool) -> str | None:
    if disabled:
        return None
    url = arg or os.environ.get("PORTAIL_TEST_DATABASE_URL") or DEFAULT_POSTGRES
    try:
        connection = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if arg:
            raise
        print(f"\nPostgreSQL: {redact(url)} does not answer ({exc.__class__.__name__}); skipped")
        return None
    await connection.close()
    return url


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--postgres", help="PostgreSQL server URL (a database is created there)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    print(f"import_invoices: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="portail-bench-") as tmp:
        files = {"first": Path(tmp) / "factures.csv", "changed": Path(tmp) / "factures-2.csv"}
        started = time.perf_counter()
        count = write_csv(files["first"], args.lines)
        changed = write_csv(files["changed"], args.lines, changed=True)
        size = files["first"].stat().st_size / 1e6
        print(
            f"CSV: {count} lines ({size:.1f} MB), changed file {changed} lines, "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        rates["SQLite"] = await run_engine(
            "SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}", files, settings
        )
        server = await postgres_server(args.postgres, args.no_postgres)
        if server:
            name = f"portail_bench_{uuid.uuid4().hex[:10]}"
            admin = await asyncpg.connect(server)
            await admin.execute(f'CREATE DATABASE "{name}"')
            await admin.close()
            try:
                url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
                rates["PostgreSQL"] = await run_engine("PostgreSQL", url, files, settings)
            finally:
                admin = await asyncpg.connect(server)
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()
    print()
    slow = [name for name, rate in rates.items() if rate < TARGET_LINES_PER_SECOND]
    for name, rate in rates.items():
        verdict = "OK" if rate >= TARGET_LINES_PER_SECOND else "below target"
        print(f"{name}: first import {rate:,.0f} lines/s ({verdict}, target 10,000)")
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
