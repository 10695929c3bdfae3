"""The growth data set of `bench/pages.py --growth`: 100 more communes, 100,000 payers and
1,000,000 invoices, written by a few `INSERT … SELECT` statements over a series of numbers
(PostgreSQL's `generate_series`, a recursive CTE on SQLite), so no row crosses into Python.

    .venv/bin/python bench/growth_data.py DATABASE_URL [--invoices 1000000]

The database must be migrated already (`bench/pages.py` does it). The new communes are named
`croissance-<n>`; each has one régie, and its payers have invoices in every state, so the
parents' pages of the benchmark's own commune see none of them, but every index sees them all.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from core import db

# The payers are inserted by one statement: their ids follow each other from this one.
FIRST_GROWTH_PAYER = """SELECT MIN(p.id) FROM payer p JOIN commune c ON c.id = p.commune
    WHERE c.slug LIKE 'croissance-%'"""

COMMUNES = 100
PAYERS = 100_000
INVOICES = 1_000_000


def _numbers(engine_type: str, count: int) -> str:
    """A row source `n(i)` of the numbers 1 to `count`."""
    if engine_type == "postgres":
        return f"generate_series(1, {int(count)}) AS n(i)"
    return (
        f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {int(count)})"
        " SELECT i FROM s) AS n"
    )


def _day(engine_type: str, offset: str) -> str:
    """The date `offset` days (an SQL expression) after 2025-01-01."""
    if engine_type == "postgres":
        return f"(DATE '2025-01-01' + ({offset})::integer)"
    return f"date('2025-01-01', '+' || ({offset}) || ' days')"


def statements(engine_type: str, invoices: int = INVOICES) -> list[str]:
    """The growth data set's statements, in order (communes, régies, payers, invoices)."""
    stamp = "now()" if engine_type == "postgres" else "CURRENT_TIMESTAMP"
    per_commune = PAYERS // COMMUNES
    numbers = _numbers
    return [
        f"""INSERT INTO commune (slug, name)
            SELECT 'croissance-' || i, 'Commune ' || i FROM {numbers(engine_type, COMMUNES)}""",
        """INSERT INTO regie (commune, code, name, client_number)
            SELECT id, 'CANT', 'Cantine', '009900' FROM commune
            WHERE slug LIKE 'croissance-%'""",
        f"""INSERT INTO payer (commune, external_ref, name, search_name)
            SELECT c.id, 'G' || n.i, 'Famille ' || n.i, 'famille ' || n.i
            FROM {numbers(engine_type, PAYERS)}
            JOIN commune c ON c.slug = 'croissance-' || (1 + (n.i - 1) / {per_commune})""",
        # Invoice i belongs to payer (i mod PAYERS): ten invoices a payer, newest ones to pay,
        # older ones paid, one in fifty in treasury.
        f"""INSERT INTO invoice (commune, regie, payer, number, payment_reference, object,
                issued_on, due_on, amount_cents, paid_cents, status, paid_on, payment_mode,
                authorisation_number, direct_debit, debit_on, pdf_path, published_at,
                updated_at)
            SELECT p.commune, r.id, p.id, 'G' || n.i, '', 'Restauration scolaire',
                {_day(engine_type, "n.i % 600")}, {_day(engine_type, "n.i % 600 + 30")},
                1000 + n.i % 9000,
                CASE WHEN n.i % 10 < 7 THEN 1000 + n.i % 9000 ELSE 0 END,
                CASE WHEN n.i % 50 = 0 THEN 'tresorerie'
                     WHEN n.i % 10 < 7 THEN 'reglee' ELSE 'a_regler' END,
                NULL, '', '', FALSE, NULL, '', {stamp}, {stamp}
            FROM {numbers(engine_type, invoices)}
            JOIN payer p ON p.id = (n.i % {PAYERS}) + ({FIRST_GROWTH_PAYER})
            JOIN regie r ON r.commune = p.commune""",
        "ANALYZE",
    ]


async def add_growth_data(invoices: int = INVOICES) -> float:
    """Write the growth data set into the current database; returns the seconds it took."""
    engine = db.current_engine()
    started = time.perf_counter()
    async with engine.transaction():
        for statement in statements(engine.engine_type, invoices)[:-1]:
            await engine.run_ddl(statement)
    await engine.run_ddl("ANALYZE")
    if engine.engine_type == "sqlite":
        # A million rows leave a 200 MB write-ahead log behind; until it is checkpointed every
        # read looks its pages up in the log's index too, and the pages got 3 times slower.
        await engine.run_ddl("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--invoices", type=int, default=INVOICES)
    args = parser.parse_args()
    engine = db.use_database(args.database_url)
    await db.open_database(engine)
    try:
        seconds = await add_growth_data(args.invoices)
    finally:
        await db.close_database(engine)
    print(f"growth data: {COMMUNES} communes, {PAYERS} payers, {args.invoices} invoices")
    print(f"written in {seconds:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
