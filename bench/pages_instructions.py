"""The parents' pages' cost in machine instructions: the same pages as `bench/pages_cpu.py`,
counted by valgrind's callgrind instead of timed, so that two runs give the same figure.

    .venv/bin/python bench/pages_instructions.py [--engines sqlite,postgres] [--requests 200]
                                                 [--write-docs]

Needs valgrind (`apt-get install valgrind`). For each engine: the database of `bench/pages.py`
(its `bench_database`), then one process under callgrind that builds the app of
`bench/pages_server.py`, logs in, and for each URL warms up, then runs `--requests` requests
between a zeroing and a dump of the counters. Only the event loop's thread is counted: the
pages run there (SQLite's quick reads and asyncpg alike), and the process's other threads
(logging, aiosqlite's writers) poll at a rate that depends on how long valgrind makes the run.

Why count instructions: on a shared machine, a page's CPU time moves by a third from one run
to the next, more than most changes gain. An instruction count does not move; it ignores what
an instruction costs (cache misses, the kernel's work on sockets), so the timed scripts stay
the measure of the targets and this one says which change removes work, and where a page's
work is. It runs the app without HTTP, as `pages_cpu.py` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from pages import (  # noqa: E402 (after the path set-up: run as a script)
    TARGET_FIXED,
    TARGET_PLAIN,
    add_database_arguments,
    bench_database,
    machine,
    targets,
    write_generated_section,
)

# Two libc calls nothing else makes while the pages run: callgrind zeroes its counters when the
# child calls the first and writes them out when it calls the second.
ZERO_AT, DUMP_AT = "getppid", "getpgrp"


def measured_child(detail_id: int, requests: int) -> None:
    """Under callgrind: each URL's `requests` requests between a zeroing and a dump."""
    from pages_cpu import call, headers_of, signed_in_cookie
    from pages_server import create_bench_app

    async def run() -> None:
        app = create_bench_app()
        async with app.lifespan():
            cookie = await signed_in_cookie(app)
            for target in targets(detail_id):
                headers = headers_of(target, cookie)
                for _ in range(30):  # warm-up: caches filled, every page answers
                    if await call(app, target.path, headers) != 200:
                        raise RuntimeError(f"{target.name}: not 200")
                os.getppid()  # ZERO_AT
                for _ in range(requests):
                    await call(app, target.path, headers)
                os.getpgrp()  # DUMP_AT

    asyncio.run(run())


def main_thread_instructions(dump: Path) -> int:
    """The instructions of one dump's file (one thread's, with --separate-threads)."""
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no total in {dump}")


def count(database_url: str, config_path: Path, detail_id: int, requests: int) -> dict[str, int]:
    """Each URL's instructions per request, from one callgrind run."""
    scratch = Path(tempfile.mkdtemp(prefix="portail-callgrind-"))
    try:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PORTAIL_CONFIG": str(config_path),
            "PORTAIL_SECRET_KEY": "b" * 64,
            "PORTAIL_OUTBOX_SENDER": "0",
            "PORTAIL_PAYMENT_RECHECK_INTERVAL": "0",
        }
        command = [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--zero-before={ZERO_AT}",
            f"--dump-before={DUMP_AT}",
            f"--callgrind-out-file={scratch}/out",
            sys.executable,
            __file__,
            "--child",
            str(detail_id),
            "--requests",
            str(requests),
        ]
        finished = subprocess.run(  # noqa: S603 (this script and its own arguments)
            command, env=env, capture_output=True, text=True, check=False
        )
        if finished.returncode != 0:
            raise RuntimeError(f"callgrind run failed:\n{finished.stderr[-3000:]}")
        # out.<part>-<thread>: part N is the N-th dump; thread 01 is the event loop's.
        parts = sorted(
            (int(m.group(1)), path)
            for path in scratch.iterdir()
            if (m := re.fullmatch(r"out\.(\d+)-01", path.name))
        )
        pages = targets(detail_id)
        if len(parts) != len(pages):
            raise RuntimeError(f"{len(parts)} dumps for {len(pages)} URLs")
        return {
            target.name: main_thread_instructions(path) // requests
            for target, (_, path) in zip(pages, parts, strict=True)
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report(engine: str, counts: dict[str, int], requests: int) -> list[str]:
    lines = [f"{engine}: {requests} requests per URL, instructions of the event loop's thread"]
    for target in targets(0):
        value = counts[target.name]
        line = f"  {target.name:<18} {value / 1e6:6.2f} M instructions per request"
        if target.reference:
            line += (
                f"; {counts['plain text'] / value:.0%} of plain text (target {TARGET_PLAIN:.0%}),"
                f" {counts[target.reference] / value:.0%} of fixed data (target {TARGET_FIXED:.0%})"
                f", data and session {(value - counts[target.reference]) / 1e6:.2f} M"
            )
        lines.append(line)
    return lines


def write_docs(lines: list[str], command: str, started: str) -> None:
    body = [f"    $ {command}", f"    machine: {started}", ""]
    write_generated_section(
        "bench/pages_instructions.py",
        [*body, *(f"    {line}" if line else "" for line in lines), ""],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_arguments(parser)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # the measured process
    args = parser.parse_args()
    if args.child is not None:
        measured_child(args.child, args.requests)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is needed: apt-get install valgrind", file=sys.stderr)
        return 2
    started = machine()
    print(f"pages_instructions: {started}", flush=True)
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="portail-pages-instructions-") as scratch:
        for engine in args.engines.split(","):
            with bench_database(engine, Path(scratch), args.postgres) as database:
                counts = count(
                    database.url, database.config_path, database.detail_id, args.requests
                )
            engine_lines = report(engine, counts, args.requests)
            print("\n".join(engine_lines), flush=True)
            lines += engine_lines
    if args.write_docs:
        write_docs(lines, "bench/pages_instructions.py " + " ".join(sys.argv[1:]), started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
