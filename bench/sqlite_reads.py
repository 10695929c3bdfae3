"""SQLite read throughput: `PortailSQLiteEngine` against Piccolo's stock `SQLiteEngine`.

    .venv/bin/python bench/sqlite_reads.py [--client raw|httpx]

Builds a temporary database (200 payers), starts two servers (`bench/sqlite_server.py`), one
per engine, each in its own process on a loopback socket, and drives them from this process
(16 keep-alive connections, one request in flight on each):

1. reads only: a 20-row page per request, 3,000 requests per engine, in interleaved rounds so
   both engines see the same machine;
2. a write mix: one request in ten is a small write transaction (read, then insert), so the
   writers run concurrently with each other and with the reads; failed requests are counted
   (for Portail they must be 0: no "database is locked").

Prints requests/s for each engine (answered requests, failed writes included) and the
Portail/stock ratio, and exits 1 when Portail had errors or the run hit its time limit
(`TOTAL_TIME_LIMIT`, 50 s; the whole run takes about 25 s). Both engines work on the same
file, which is in WAL mode (set by Portail's `prep_database`, and persistent), so the read
figures isolate the cost of Piccolo's connection-per-query.

The client: by default a minimal HTTP/1.1 client on asyncio streams (`RawSession`), because
httpx.AsyncClient saturates a whole core at about 600 requests/s on these 2-core machines, which
caps the figures below what the server can do and leaves it one core. `--client httpx` drives
the same requests through httpx.AsyncClient instead. Each round prints the CPU share of the
client and of the server (1.00 = one core busy all along), to show which side is the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

logging.getLogger("piccolo").setLevel(logging.WARNING)  # "Running Sqlite version"
ROOT = Path(__file__).resolve().parent.parent
SERVER = Path(__file__).resolve().parent / "sqlite_server.py"

PAYERS = 200
PAGES = PAYERS // 20
CONCURRENCY = 16
READ_REQUESTS = 3_000
"""Per engine, over `ROUNDS` interleaved rounds."""
ROUNDS = 2
MIX_REQUESTS = 2_000
"""Per engine, one round."""
WRITE_EVERY = 10
"""One request in ten is a write."""
WARMUP_REQUESTS = 200
PHASE_TIME_LIMIT = 15.0
"""Seconds: a round that takes longer stops there and says so."""
TOTAL_TIME_LIMIT = 50.0
"""Seconds from the start to the end of the last round: rounds are cut short to fit, then
skipped; stopping the servers takes at most a few more seconds."""
STARTUP_TIME_LIMIT = 15.0
ENGINES = ("stock", "portail")


# --- Clients -----------------------------------------------------------------------------------


class Session(Protocol):
    """One keep-alive connection's worth of requests, one at a time."""

    async def request(self, method: str, target: str) -> tuple[int, str]: ...

    async def close(self) -> None: ...


class RawSession:
    """HTTP/1.1 over one asyncio stream, Content-Length framing only (what uvicorn sends here).

    Far cheaper per request than httpx, so the client does not eat the server's core.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str) -> tuple[int, str]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        body = "Content-Length: 0\r\n" if method != "GET" else ""
        self.writer.write(
            f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{body}\r\n".encode()
        )
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            length = None
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise RuntimeError(f"no Content-Length in {head[:200]!r}")
            content = await self.reader.readexactly(length) if length else b""
        except BaseException:
            await self.close()
            raise
        return status, content.decode(errors="replace")

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()


class HttpxSession:
    def __init__(self, client: httpx.AsyncClient, base: str) -> None:
        self.client, self.base = client, base

    async def request(self, method: str, target: str) -> tuple[int, str]:
        response = await self.client.request(method, self.base + target)
        return response.status_code, response.text

    async def close(self) -> None:
        pass


SessionFactory = Callable[[str], Session]


def session_factory(kind: str, client: httpx.AsyncClient) -> SessionFactory:
    if kind == "httpx":
        return lambda base: HttpxSession(client, base)

    def raw(base: str) -> Session:
        host, port = httpx.URL(base).host, httpx.URL(base).port
        assert port is not None
        return RawSession(host, port)

    return raw


# --- Measurement -------------------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    seconds: float = 0.0
    writes: int = 0
    errors: int = 0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    timed_out: bool = False
    messages: collections.Counter[str] = field(default_factory=collections.Counter)

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.writes += other.writes
        self.errors += other.errors
        self.client_cpu += other.client_cpu
        self.server_cpu += other.server_cpu
        self.timed_out = self.timed_out or other.timed_out
        self.messages.update(other.messages)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc; 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    sessions: list[Session],
    server_pid: int,
    total: int,
    *,
    write_every: int = 0,
    time_limit: float = PHASE_TIME_LIMIT,
) -> Tally:
    """`total` requests over the sessions; request i is a write when i % write_every == 0."""
    tally = Tally()
    counter = iter(range(total))

    async def worker(session: Session) -> None:
        for i in counter:
            if write_every and i % write_every == 0:
                tally.writes += 1
                method, target = "POST", f"/payers/{1 + i % PAYERS}/emails"
            else:
                method, target = "GET", f"/payers?page={i % PAGES}"
            try:
                status, text = await session.request(method, target)
            except (OSError, asyncio.IncompleteReadError, RuntimeError, httpx.HTTPError) as exc:
                tally.errors += 1
                tally.messages[f"{type(exc).__name__}: {exc}"] += 1
                continue
            tally.requests += 1
            if status >= 400:
                tally.errors += 1
                tally.messages[text[:120]] += 1

    server_cpu = process_cpu_seconds(server_pid)
    client_cpu = time.process_time()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(time_limit):
            await asyncio.gather(*(worker(session) for session in sessions))
    except TimeoutError:
        tally.timed_out = True
    tally.seconds = time.perf_counter() - started
    tally.client_cpu = time.process_time() - client_cpu
    tally.server_cpu = process_cpu_seconds(server_pid) - server_cpu
    # Fresh connections for the next round: uvicorn drops keep-alive connections left idle
    # for 5 s (while the other engine's round runs), and RawSession does not retry.
    for session in sessions:
        await session.close()
    return tally


def describe(name: str, tally: Tally, *, writes: bool = False) -> str:
    line = (
        f"  {name:<8} {tally.requests:>5} requests in {tally.seconds:5.2f} s: "
        f"{tally.rate:6.0f} req/s   CPU client {tally.client_cpu / tally.seconds:.2f}, "
        f"server {tally.server_cpu / tally.seconds:.2f}"
    )
    if writes:
        line += f"   {tally.writes} writes, errors: {tally.errors}"
    elif tally.errors:
        line += f"   errors: {tally.errors}"
    if tally.timed_out:
        line += "  (stopped at the time limit)"
    return line


# --- Set-up ------------------------------------------------------------------------------------


async def seed(path: Path) -> None:
    from core import db
    from core.accounts.tables import Payer, PayerEmail
    from core.communes.tables import Commune

    engine = db.use_database(f"sqlite:///{path}")
    await db.open_database(engine)
    await db.migrate()
    commune = (await Commune.insert(Commune(slug="bench", name="Commune de Bench")))[0]["id"]
    rows = await Payer.insert(
        *(
            Payer(commune=commune, external_ref=f"D{i:05}", name=f"Payeur {i}")
            for i in range(PAYERS)
        )
    )
    await PayerEmail.insert(
        *(
            PayerEmail(commune=commune, payer=row["id"], email=f"payeur{i}@bench.invalid")
            for i, row in enumerate(rows)
        )
    )
    await db.close_database(engine)


def start_server(engine: str, path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The server process for `engine`, on a loopback socket bound here (no port race)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    process = subprocess.Popen(  # noqa: S603 - our own script, run with our own interpreter
        [sys.executable, str(SERVER), "--engine", engine, "--db", str(path), "--fd", str(fd)],
        cwd=ROOT,
        pass_fds=[fd],
    )
    listener.close()  # the child holds its own copy
    return process, f"http://127.0.0.1:{port}"


async def wait_ready(client: httpx.AsyncClient, base: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + STARTUP_TIME_LIMIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {base} exited with {process.returncode}")
        try:
            response = await client.get(f"{base}/health")
            if response.status_code == 200:
                return str(response.json()["engine"])
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"server for {base} not ready after {STARTUP_TIME_LIMIT} s")


# --- Run ---------------------------------------------------------------------------------------


async def run(path: Path, client_kind: str) -> int:
    overall = time.monotonic()
    deadline = overall + TOTAL_TIME_LIMIT
    await seed(path)
    servers = {engine: start_server(engine, path) for engine in ENGINES}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    sessions: dict[str, list[Session]] = {}
    failed = True
    try:
        async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
            make = session_factory(client_kind, client)
            for engine, (process, base) in servers.items():
                kind = await wait_ready(client, base, process)
                print(f"{engine:<8} {kind} (pid {process.pid}) on {base}")
                sessions[engine] = [make(base) for _ in range(CONCURRENCY)]
            pids = {engine: process.pid for engine, (process, _) in servers.items()}

            def round_of(engine: str, total: int, write_every: int = 0) -> Awaitable[Tally]:
                limit = min(PHASE_TIME_LIMIT, deadline - time.monotonic())
                return drive(
                    sessions[engine], pids[engine], total, write_every=write_every, time_limit=limit
                )

            skipped: list[str] = []

            def time_left(what: str) -> bool:
                if deadline - time.monotonic() > 1.0:
                    return True
                skipped.append(what)
                return False

            for engine in ENGINES:
                await round_of(engine, WARMUP_REQUESTS)

            print(
                f"\nReads: a 20-row page per request, {CONCURRENCY} in flight, {READ_REQUESTS} "
                f"requests per engine in {ROUNDS} interleaved rounds ({client_kind} client)"
            )
            reads = {engine: Tally() for engine in ENGINES}
            for _ in range(ROUNDS):
                for engine in ENGINES:
                    if time_left(f"reads ({engine})"):
                        reads[engine].add(await round_of(engine, READ_REQUESTS // ROUNDS))
            for engine in ENGINES:
                print(describe(engine, reads[engine]))
            if reads["stock"].rate:
                print(f"  ratio portail/stock: {reads['portail'].rate / reads['stock'].rate:.2f}")

            print(
                f"\nWrite mix: 1 request in {WRITE_EVERY} is a write transaction (select, then "
                f"insert), {CONCURRENCY} in flight, {MIX_REQUESTS} requests per engine"
            )
            mixes: dict[str, Tally] = {}
            for engine in ENGINES:
                if time_left(f"write mix ({engine})"):
                    mixes[engine] = await round_of(engine, MIX_REQUESTS, WRITE_EVERY)
                    print(describe(engine, mixes[engine], writes=True))
                    for message, count in mixes[engine].messages.most_common(3):
                        print(f"           {count} x {message}")
            if "stock" in mixes and "portail" in mixes and mixes["stock"].rate:
                print(f"  ratio portail/stock: {mixes['portail'].rate / mixes['stock'].rate:.2f}")

            complete = "portail" in mixes and not reads["portail"].timed_out
            mix_errors = mixes["portail"].errors if "portail" in mixes else 0
            portail_errors = reads["portail"].errors + mix_errors
            print(f"\nPortail errors (reads + write mix): {portail_errors} (must be 0)")
            if skipped:
                print(f"Time limit: skipped {', '.join(skipped)}; the figures are partial.")
            failed = portail_errors > 0 or not complete or bool(skipped)
    finally:
        for process, _ in servers.values():
            process.terminate()
        for process, _ in servers.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
    print(f"Total time: {time.monotonic() - overall:.1f} s")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    args = parser.parse_args()
    print(f"sqlite_reads: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="portail-bench-") as directory:
        return asyncio.run(run(Path(directory) / "bench.sqlite", args.client))


if __name__ == "__main__":
    sys.exit(main())
