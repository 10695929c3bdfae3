"""The back office's family search ("Familles") among 100,000 payers, on SQLite.

    .venv/bin/python bench/family_search.py [--payers 100000] [--repeat 21]

Builds a throw-away SQLite database with the real migrations (so the real indexes), one commune
and `--payers` payers with one address each (names drawn from common French family names, with
accents and "Famille" in front of some), and a few thousand payers of a second commune. Then it
runs `core.backoffice.families.search_payers`, the page's own query, for each kind of search:

- a reference, exactly (index `payer (commune, external_ref)`);
- an address, exactly (index `payer_email (commune, email)`);
- a name's prefix, short ("mar": thousands of matches, one page of 50 and the count) and long
  ("martin cl": a few), accent- and case-insensitive (index `payer (commune, search_name)`);
- nothing found.

Prints the median and the slowest time of `--repeat` runs per kind, and the matches found. The
figures are printed, not asserted: machines differ; the point is that every kind stays in
milliseconds, where a scan of 100,000 names would take tens to hundreds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import db, db_bulk  # noqa: E402 -- after the path
from core.accounts.names import search_name  # noqa: E402
from core.backoffice.families import search_payers  # noqa: E402
from core.communes.services import sync_communes  # noqa: E402
from core.config import parse_config  # noqa: E402

logging.getLogger("piccolo").setLevel(logging.WARNING)

CONFIG = {
    "communes": [
        {"slug": slug, "name": f"Ville {slug}", "contact": {"email": f"f@{slug}.example.org"}}
        for slug in ("bench", "other")
    ]
}
SURNAMES = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefèvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Müller",
    "Lefebvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martínez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
]
FIRST_NAMES = [
    "Claire",
    "Élise",
    "Anne",
    "Camille",
    "Léa",
    "Chloé",
    "Zoé",
    "Inès",
    "Jade",
    "Louise",
    "Clément",
    "Hugo",
    "Lucas",
    "Théo",
    "Noé",
    "Jules",
]


def payer_names(count: int, rng: random.Random) -> list[str]:
    names = []
    for _ in range(count):
        surname = rng.choice(SURNAMES)
        if rng.random() < 0.3:
            names.append(f"Famille {surname}")
        else:
            names.append(f"{surname.upper()} {rng.choice(FIRST_NAMES)}")
    return names


async def fill(commune_id: int, count: int, prefix: str, rng: random.Random) -> None:
    names = payer_names(count, rng)
    async with db.transaction():
        await db_bulk.insert_many(
            "payer",
            ("commune", "external_ref", "name", "search_name"),
            [
                (commune_id, f"{prefix}{n:06}", name, search_name(name))
                for n, name in enumerate(names)
            ],
        )
        rows = await db_bulk.fetch_tuples(
            'SELECT "id", "external_ref" FROM "payer" WHERE "commune" = ?', [commune_id]
        )
        await db_bulk.insert_many(
            "payer_email",
            ("commune", "payer", "email"),
            [(commune_id, payer_id, f"{ref.lower()}@example.org") for payer_id, ref in rows],
        )


async def measure(commune_id: int, query: str, repeat: int) -> tuple[float, float, int]:
    times = []
    found = 0
    for _ in range(repeat):
        start = time.perf_counter()
        listing = await search_payers(commune_id, query)
        times.append(time.perf_counter() - start)
        found = listing.total
    return statistics.median(times), max(times), found


async def main(payers: int, repeat: int) -> None:
    rng = random.Random(20261128)
    with tempfile.TemporaryDirectory(prefix="portail-bench-") as tmp:
        engine = db.use_database(f"sqlite:///{Path(tmp) / 'search.sqlite'}")
        await db.open_database(engine)
        try:
            await db.migrate()
            communes = await sync_communes(parse_config(CONFIG))
            start = time.perf_counter()
            await fill(communes["bench"], payers, "P", rng)
            await fill(communes["other"], max(payers // 20, 1), "O", rng)
            print(f"{payers:,} payers written in {time.perf_counter() - start:.1f} s")
            queries = {
                "reference (exact)": f"P{payers // 2:06}",
                "address (exact)": f"p{payers // 3:06}@example.org",
                "name prefix, short": "mar",
                "name prefix, long": "Martin Cl",
                "name prefix, accents": "LEFÈV",
                "nothing found": "zzzz",
            }
            print(f"{'search':<24} {'median ms':>10} {'max ms':>8} {'found':>7}")
            for kind, query in queries.items():
                median, slowest, found = await measure(communes["bench"], query, repeat)
                print(f"{kind:<24} {median * 1000:>10.2f} {slowest * 1000:>8.2f} {found:>7,}")
        finally:
            await db.close_database(engine)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=21, help="runs per kind (the median)")
    args = parser.parse_args()
    asyncio.run(main(args.payers, args.repeat))
