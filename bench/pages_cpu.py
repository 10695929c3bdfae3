"""The parents' pages' CPU cost in one process: the app of `bench/pages_server.py` called
directly as an ASGI application, one request at a time, without HTTP or a load generator.

    .venv/bin/python bench/pages_cpu.py [--engines sqlite,postgres] [--requests 500] [--write-docs]

Same database and pages as `bench/pages.py` (its `seed`), same reference routes (plain text and
the fixed-data renders). For each URL, the process's CPU time (`time.process_time`: the event
loop and aiosqlite's threads) per request over `--requests` requests, in 3 interleaved rounds,
then each page's share of plain text and of its fixed-data twin (median, min and max). On a
machine shared with other work this is the figure that moves least: it is the cost itself, not
what the machine had left for the server. HTTP parsing by the server (uvicorn, httptools) is
not included: `bench/pages.py` measures it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from pages import (  # noqa: E402 (after the path set-up: run as a script)
    EMAIL,
    PASSWORD,
    TARGET_FIXED,
    TARGET_PLAIN,
    Target,
    add_database_arguments,
    bench_database,
    fmt_spread,
    machine,
    targets,
    write_generated_section,
)


async def call(app: Any, path: str, headers: dict[str, str]) -> int:
    """One GET through the ASGI app; returns the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    return int(messages[0]["status"])


async def signed_in_cookie(app: Any) -> str:
    """The `Cookie` header of the bench's parent, logged in through the app's login form."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await client.get("/boe/connexion")
        token = client.cookies["portail_csrf"]
        await client.post(
            "/boe/connexion",
            data={"email": EMAIL, "password": PASSWORD, "_csrf_token": token},
        )
        return f"portail_session={client.cookies['portail_session']}; portail_csrf={token}"


def headers_of(target: Target, cookie: str) -> dict[str, str]:
    pairs = dict(h.split(": ", 1) for h in target.headers[1::2])
    return {"cookie": cookie, **pairs}


async def measure(database_url: str, config_path: Path, detail_id: int, requests: int) -> list[str]:
    os.environ.update(
        DATABASE_URL=database_url,
        PORTAIL_CONFIG=str(config_path),
        PORTAIL_SECRET_KEY=uuid.uuid4().hex * 2,
        PORTAIL_OUTBOX_SENDER="0",
        PORTAIL_PAYMENT_RECHECK_INTERVAL="0",
    )
    from pages_server import create_bench_app

    app = create_bench_app()
    pages = targets(detail_id)
    lines: list[str] = []
    async with app.lifespan():
        cookie = await signed_in_cookie(app)
        for target in pages:  # warm-up, and every page must answer
            status = await call(app, target.path, headers_of(target, cookie))
            if status != 200:
                raise RuntimeError(f"{target.name}: {status}")
        rounds: list[dict[str, float]] = []
        for _ in range(3):
            costs = {}
            for target in pages:
                headers = headers_of(target, cookie)
                started = time.process_time()
                for _ in range(requests):
                    await call(app, target.path, headers)
                costs[target.name] = (time.process_time() - started) * 1000 / requests
            rounds.append(costs)
        for target in pages:
            values = [r[target.name] for r in rounds]
            line = f"  {target.name:<18} CPU {fmt_spread(values, '{:.3f} ms')} per request"
            if target.reference:
                plain = [r["plain text"] / r[target.name] for r in rounds]
                fixed = [r[target.reference] / r[target.name] for r in rounds]
                line += (
                    f"; {fmt_spread(plain)} of plain text (target {TARGET_PLAIN:.0%}),"
                    f" {fmt_spread(fixed)} of fixed data (target {TARGET_FIXED:.0%})"
                )
            print(line, flush=True)
            lines.append(line)
    return lines


def run_engine(engine: str, scratch: Path, args: argparse.Namespace) -> list[str]:
    with bench_database(engine, scratch, args.postgres) as database:
        heading = f"{engine}: {args.requests} requests per URL and round, 3 rounds"
        print(heading, flush=True)
        lines = asyncio.run(
            measure(database.url, database.config_path, database.detail_id, args.requests)
        )
        return [heading, *lines]


def write_docs(lines: list[str], command: str, started: str) -> None:
    body = [f"    $ {command}", f"    machine at start: {started}", ""]
    write_generated_section(
        "bench/pages_cpu.py", [*body, *(f"    {line}" if line else "" for line in lines), ""]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_arguments(parser)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    started = machine()
    print(f"pages_cpu: {started}", flush=True)
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="portail-pages-cpu-") as scratch:
        for engine in args.engines.split(","):
            lines += run_engine(engine, Path(scratch), args)
    lines.append(f"machine at end: {machine()}")
    if args.write_docs:
        write_docs(lines, "bench/pages_cpu.py " + " ".join(sys.argv[1:]), started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
