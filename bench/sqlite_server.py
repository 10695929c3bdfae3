"""Server half of `bench/sqlite_reads.py`: a tiny Litestar app over one SQLite engine.

Not meant to be run by hand. `sqlite_reads.py` starts it with the venv's python, hands it a
listening loopback socket (`--fd`) and an engine name:

- `portail`: `core.db.PortailSQLiteEngine`, as installed by `core.db.use_database()`;
- `stock`: Piccolo's own `SQLiteEngine(path=...)`, set as `table._meta.db` on every table.

Routes:

- `GET /health`: readiness probe;
- `GET /payers?page=N`: a 20-row page of payers (a Piccolo select, served as JSON);
- `POST /payers/{id}/emails`: a small write transaction (read, then insert), the shape of
  most of the portal's writes; it answers 500 with the exception text when it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import warnings
from typing import Any

import uvicorn
from litestar import Litestar, Response, get, post
from piccolo.engine.sqlite import SQLiteEngine

from core import db
from core.accounts.tables import Payer, PayerEmail

logging.getLogger("piccolo").setLevel(logging.WARNING)  # "Running Sqlite version"
PAGE_SIZE = 20

warnings.filterwarnings("ignore", category=DeprecationWarning)


def build_app(engine_name: str, path: str) -> Litestar:
    state: dict[str, Any] = {}

    async def startup() -> None:
        engine = db.use_database(f"sqlite:///{path}")
        if engine_name == "stock":
            engine = SQLiteEngine(path=path)
            for table in db.all_tables():
                table._meta.db = engine  # type: ignore[attr-defined]
        await db.open_database(engine)
        state["engine"] = engine

    async def shutdown() -> None:
        await db.close_database(state["engine"])

    @get("/health")
    async def health() -> dict[str, str]:
        return {"engine": type(state["engine"]).__name__}

    payer_id_column = Payer._meta.primary_key

    @get("/payers")
    async def payers(page: int = 0) -> list[dict[str, Any]]:
        return (
            await Payer.select(payer_id_column, Payer.external_ref, Payer.name)
            .order_by(payer_id_column)
            .limit(PAGE_SIZE)
            .offset(page * PAGE_SIZE)
        )

    @post("/payers/{payer_id:int}/emails")
    async def add_email(payer_id: int) -> Response[dict[str, Any]]:
        engine = state["engine"]
        try:
            # The engine's own default transaction: IMMEDIATE for Portail, DEFERRED for stock.
            async with engine.transaction():
                payer = await Payer.select(Payer.commune).where(payer_id_column == payer_id).first()
                if payer is None:
                    return Response({"error": "no such payer"}, status_code=404)
                count = await PayerEmail.count().where(PayerEmail.payer == payer_id)
                await PayerEmail.insert(
                    PayerEmail(
                        commune=payer["commune"],
                        payer=payer_id,
                        email=f"payer{payer_id}-{count}@bench.invalid",
                    )
                )
        except Exception as exc:
            return Response({"error": f"{type(exc).__name__}: {exc}"}, status_code=500)
        return Response({"emails": count + 1}, status_code=201)

    return Litestar(
        route_handlers=[health, payers, add_email],
        on_startup=[startup],
        on_shutdown=[shutdown],
        debug=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["portail", "stock"], required=True)
    parser.add_argument("--db", required=True, help="absolute path of the SQLite file")
    parser.add_argument("--fd", type=int, required=True, help="a listening TCP socket")
    args = parser.parse_args()

    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(
        build_app(args.engine, args.db), log_level="warning", access_log=False, lifespan="on"
    )
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
