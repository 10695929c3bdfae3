"""What "Télécharger mes données" costs as an account's history grows, on SQLite.

    .venv/bin/python bench/account_export.py [--sizes 10 1000 10000] [--repeat 5]

Builds a throw-away SQLite database with the real migrations, one commune and, for each size
N, one account whose payer has N invoices, N/10 online payments and N/5 e-mails in the outbox,
next to another account with as much (the export must not read it). Then it runs the export
itself (`core.account_rights.export`), as the page asks for it (`PAGE_ROWS` per list) and as the
file does (every row, `BATCH` at a time, then the JSON).

Prints, per size: the SQL statements each one runs (counted at the engine), the median time of
`--repeat` runs, the file's size, and the times as ratios to the smallest size within this run.
The point: the page's statements and time stay flat however long the history is; the file's
statements grow by one per `BATCH` rows of a list, its time with the rows it must write.
Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import db, db_bulk  # noqa: E402 -- after the path
from core.account_rights import export  # noqa: E402
from core.communes.context import CommuneContext  # noqa: E402
from core.communes.services import sync_communes  # noqa: E402
from core.config import parse_config  # noqa: E402
from core.plugins import collect_plugin_settings, get_plugin_manager  # noqa: E402
from core.setup import commune_contexts  # noqa: E402

logging.getLogger("piccolo").setLevel(logging.WARNING)

CONFIG = {
    "communes": [
        {
            "slug": "bench",
            "name": "Ville de Bench",
            "contact": {"email": "facturation@bench.example.org"},
            "regies": [{"code": "CANT", "name": "Cantine", "client_number": "004200"}],
            "plugins": {"paper_optout": {}},
        }
    ]
}
NOW = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
ROW = "{:>10} {:>6} {:>10} {:>10} {:>10} {:>8}"


async def one_value(sql: str, args: list[Any]) -> Any:
    """The first column of the first row (inside the caller's transaction)."""
    return (await db_bulk.fetch_tuples(sql, args))[0][0]


async def add_account(commune_id: int, regie_id: int, name: str, size: int) -> int:
    """An active account, its payer, and `size` invoices, payments and e-mails."""
    email = f"{name}@example.org"
    async with db.transaction():
        await db_bulk.insert_many(
            "payer",
            ("commune", "external_ref", "name", "search_name"),
            [(commune_id, name, name, name)],
        )
        payer = await one_value('SELECT "id" FROM "payer" WHERE "external_ref" = ?', [name])
        await db_bulk.insert_many(
            "payer_email", ("commune", "payer", "email"), [(commune_id, payer, email)]
        )
        await db_bulk.insert_many(
            "account",
            ("commune", "email", "password_hash", "state", "auth_version", "created_at"),
            [(commune_id, email, "$argon2id$not-a-real-hash", "active", 1, NOW)],
        )
        account = await one_value('SELECT "id" FROM "account" WHERE "email" = ?', [email])
        await db_bulk.insert_many("account_payer", ("account", "payer"), [(account, payer)])
        await db_bulk.insert_many(
            "invoice",
            (
                "commune",
                "regie",
                "payer",
                "number",
                "object",
                "issued_on",
                "due_on",
                "amount_cents",
                "paid_cents",
                "status",
                "published_at",
                "updated_at",
            ),
            [
                (
                    commune_id,
                    regie_id,
                    payer,
                    f"{name}-{n:06}",
                    "Cantine",
                    dt.date(2026, 1, 10),
                    dt.date(2026, 2, 10),
                    2450,
                    0,
                    "a_regler",
                    NOW,
                    NOW,
                )
                for n in range(size)
            ],
        )
        await db_bulk.insert_many(
            "payment_attempt",
            (
                "commune",
                "account",
                "regie",
                "provider",
                "refdet",
                "numcli",
                "exer",
                "amount_cents",
                "email",
                "state",
                "created_at",
                "updated_at",
            ),
            [
                (
                    commune_id,
                    account,
                    regie_id,
                    "payfip",
                    f"{name}{n:08}",
                    "004200",
                    "2026",
                    2450,
                    email,
                    "refused",
                    NOW,
                    NOW,
                )
                for n in range(size // 10)
            ],
        )
        await db_bulk.insert_many(
            "outbound_email",
            (
                "commune",
                "recipient",
                "subject",
                "body_text",
                "status",
                "created_at",
                "next_attempt_at",
            ),
            [
                (commune_id, email, "Nouvelles factures", "", "sent", NOW, NOW)
                for _ in range(size // 5)
            ],
        )
    return int(account)


def count_statements(engine: Any) -> list[int]:
    """A counter the engine bumps at each statement."""
    counter = [0]
    run = engine.run_querystring

    async def counted(querystring: Any, *args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return await run(querystring, *args, **kwargs)

    engine.run_querystring = counted
    return counter


async def measure(
    commune: CommuneContext, account_id: int, counter: list[int], repeat: int
) -> dict[str, tuple[int, float, int]]:
    """(statements, median seconds, bytes) of the page's export and of the file's."""
    figures = {}
    for kind, limit in (("page", export.PAGE_ROWS), ("file", None)):
        times, statements, size = [], 0, 0
        for _ in range(repeat):
            counter[0] = 0
            start = time.perf_counter()
            sections = await export.collect(commune, account_id, limit=limit)
            if limit is None:
                size = len(export.as_json(commune, sections, NOW))
            times.append(time.perf_counter() - start)
            statements = counter[0]
        figures[kind] = (statements, statistics.median(times), size)
    return figures


async def main(sizes: list[int], repeat: int) -> None:
    config = parse_config(CONFIG)
    pm = get_plugin_manager(load_entry_points=False)
    context = commune_contexts(config, pm, collect_plugin_settings(pm))["bench"]
    headings = ("N invoices", "export", "statements", "median ms", "x smallest", "JSON kB")
    print(ROW.format(*headings))
    base: dict[str, float] = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="portail-bench-") as tmp:
            engine = db.use_database(f"sqlite:///{Path(tmp) / 'export.sqlite'}")
            await db.open_database(engine)
            try:
                await db.migrate()
                commune_id = (await sync_communes(config))["bench"]
                commune = dataclasses.replace(context, id=commune_id)
                async with db.transaction():
                    regie = await one_value('SELECT "id" FROM "regie" WHERE "code" = ?', ["CANT"])
                account_id = await add_account(commune_id, regie, "claire", size)
                await add_account(commune_id, regie, "other", size)
                counter = count_statements(engine)
                figures = await measure(commune, account_id, counter, repeat)
            finally:
                await db.close_database(engine)
        for kind, (statements, seconds, length) in figures.items():
            base.setdefault(kind, seconds)
            ratio = seconds / base[kind]
            kilobytes = f"{length / 1024:.0f}" if length else "-"
            print(
                ROW.format(
                    f"{size:,}",
                    kind,
                    statements,
                    f"{seconds * 1000:.1f}",
                    f"{ratio:.1f}",
                    kilobytes,
                )
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=5, help="runs per export (the median)")
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.repeat))
