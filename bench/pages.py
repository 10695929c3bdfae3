"""The parents' pages under load, on SQLite and PostgreSQL, against references on the same server.

    .venv/bin/python bench/pages.py                       # both engines, 3 rounds
    .venv/bin/python bench/pages.py --engines postgres --growth --write-docs
    .venv/bin/python bench/pages.py --workers 1,2,4       # scaling over worker processes

For each engine: a fresh database (a temporary SQLite file; on PostgreSQL a database of its own
created on the server and dropped at the end) with the real migrations, the commune `boe`, one
parent with 20 invoices to pay (and 10 paid, 5 in treasury) among 1,000, and the server as
`portail serve` runs it (`core.server.run_server`) with two routes of the benchmark's own
(`bench/pages_server.py`): plain text, and the same templates with data kept in memory.

wrk (`apt-get install wrk`) loads one URL at a time with 64 keep-alive connections; each round
loads every URL in turn, so the ratios of a round compare pages measured within seconds of each
other. Figures: requests/s, p50 and p99 latency, the page's share of the plain-text route and of
the fixed-data render (median of the rounds, with min and max), the server's peak RSS, logins/s
at the shipped Argon2id parameters and the page's p99 while 20 logins run at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from core import db  # noqa: E402 (after the path set-up: run as a script)
from core.accounts.tables import Payer, PayerEmail  # noqa: E402
from core.communes.services import sync_communes  # noqa: E402
from core.config import parse_config  # noqa: E402
from core.demo import add_active_account  # noqa: E402
from core.invoices.tables import PAID, TO_PAY, TREASURY, Invoice  # noqa: E402
from core.security import passwords  # noqa: E402

DOCS = ROOT / "docs" / "performance.md"
EMAIL, PASSWORD = "claire.martin@example.org", "demo-portail-2026"
LOGIN_ACCOUNTS = 200
LOGIN_SECONDS = 20


def login_email(n: int) -> str:
    return f"parent{n}@example.org"


CONFIG_TOML = """
[[communes]]
slug = "boe"
name = "Ville de Boé"
link_code = "M470310001"

[communes.contact]
email = "facturation@boe.example.org"

[[communes.regies]]
code = "CANT"
name = "Restauration scolaire"
client_number = "004200"

[communes.plugins.payfip]
saisie = "T"

[communes.plugins.paper_optout]
"""
CONNECTIONS = 64
TARGET_PLAIN, TARGET_FIXED, TARGET_P99_MS, TARGET_RSS_MB = 0.15, 0.70, 100.0, 150.0
HX = ["-H", "HX-Request: true"]


@dataclass
class Load:
    """One wrk run."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float = 0.0  # the server process's CPU time per request (0: not measured)


@dataclass
class Target:
    name: str
    path: str
    headers: list[str] = field(default_factory=list)
    reference: str | None = None  # the fixed-data target this page is compared with


def targets(detail_id: int) -> list[Target]:
    detail_headers = ["-H", "HX-Request: true", "-H", "HX-Target: invoice-detail"]
    list_headers = ["-H", "HX-Request: true", "-H", "HX-Target: invoice-list"]
    return [
        Target("plain text", "/bench/plain"),
        Target("fixed: À régler", "/boe/bench/fixe/factures"),
        Target("À régler", "/boe/factures", reference="fixed: À régler"),
        Target("fixed: fragment", "/boe/bench/fixe/factures", list_headers),
        Target("À régler fragment", "/boe/factures", list_headers, "fixed: fragment"),
        Target("fixed: detail", f"/boe/bench/fixe/factures/{detail_id}", detail_headers),
        Target("detail fragment", f"/boe/factures/{detail_id}", detail_headers, "fixed: detail"),
    ]


# --- Load generation ------------------------------------------------------------------------

_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)|(?:connect|read|write|timeout) (\d+)")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


_TOTAL = re.compile(r"(\d+) requests in")
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def wrk(
    url: str,
    cookie: str,
    seconds: float,
    connections: int,
    extra: Sequence[str] = (),
    cpu_ticks: Callable[[], int] | None = None,
) -> Load:
    """Load `url` for `seconds`; with `cpu_ticks` (the server's CPU clock), also the server's
    CPU time per request, which other processes on the machine hardly change."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    command += ["-H", f"Cookie: {cookie}", *extra, url]
    before = cpu_ticks() if cpu_ticks else 0
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    ticks = cpu_ticks() - before if cpu_ticks else 0
    latency = {p: float(v) * _UNIT_MS[u] for p, v, u in _LATENCY.findall(out)}
    errors = sum(int(a or b or 0) for a, b in _ERRORS.findall(out))
    rate = _RATE.search(out)
    total = _TOTAL.search(out)
    requests = int(total.group(1)) if total else 0
    return Load(
        float(rate.group(1)) if rate else 0.0,
        latency["50"],
        latency["99"],
        errors,
        ticks * TICK_MS / requests if requests else 0.0,
    )


# Each login from its own client address (the server trusts one proxy hop here) and for one of
# LOGIN_ACCOUNTS accounts in turn: the rate limits of logins per client address and per e-mail
# address would otherwise answer most of them. Counts the successful ones (303).
LOGIN_LUA = """
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
local sent = 0
succeeded = 0
function request()
  sent = sent + 1
  local ip = string.format("10.%d.%d.%d", math.floor(sent / 65536) % 256,
                           math.floor(sent / 256) % 256, sent % 256)
  return wrk.format("POST", "/boe/connexion", {{
    ["X-Forwarded-For"] = ip,
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "portail_csrf={token}",
  }}, "email=parent" .. (sent % {accounts}) .. "%40example.org&password={password}"
      .. "&_csrf_token={token}")
end
function response(status, headers, body)
  if status == 303 then succeeded = succeeded + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("succeeded") end
  io.write(string.format("logins: %d in %.2f s\\n", total, summary.duration / 1e6))
end
"""
_LOGINS = re.compile(r"logins: (\d+) in ([\d.]+) s")


# --- The server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`core.server.run_server` with the benchmark's routes, in a process of its own."""

    def __init__(self, database_url: str, config_path: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PORTAIL_CONFIG": str(config_path),
            "PORTAIL_SECRET_KEY": uuid.uuid4().hex * 2,
            "PORTAIL_PAYMENT_RECHECK_INTERVAL": "0",
            "PORTAIL_OUTBOX_SENDER": "0",
            "PORTAIL_TRUSTED_PROXY_HOPS": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
        }
        code = (
            "from core.server import run_server; run_server('127.0.0.1', "
            f"{self.port}, workers={workers}, app_factory='pages_server:create_bench_app', "
            "log_level='warning')"
        )
        self.process = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)  # noqa: S603
        self.workers = workers

    def wait(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/bench/plain", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def pids(self) -> list[int]:
        """The serving processes: the workers when there are several, else the process."""
        # Children of any of its threads (uvicorn's supervisor may start workers from one).
        tasks = Path(f"/proc/{self.process.pid}/task").glob("*/children")
        found = [int(p) for children in tasks for p in children.read_text().split()]
        workers = [
            p
            for p in found
            if "multiprocessing" in _cmdline(p) and "resource_tracker" not in _cmdline(p)
        ]
        return workers if self.workers > 1 and workers else [self.process.pid]

    def peak_rss_mb(self) -> float:
        return max(_status_kb(pid, "VmHWM") for pid in self.pids()) / 1024

    def cpu_ticks(self) -> list[int]:
        return [_cpu_ticks(pid) for pid in self.pids()]

    def total_cpu_ticks(self) -> int:
        return sum(self.cpu_ticks())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def login(self) -> str:
        with httpx.Client(base_url=self.base) as client:
            client.get("/boe/connexion")
            token = client.cookies["portail_csrf"]
            response = client.post(
                "/boe/connexion",
                data={"email": EMAIL, "password": PASSWORD, "_csrf_token": token},
                # Not counted with the logins of the login test (same rate limit, by address).
                headers={"X-Forwarded-For": "192.0.2.1"},
            )
            if response.status_code != 303:
                raise RuntimeError(f"login failed: {response.status_code}")
            # As a browser sends them: the session, and the CSRF cookie it got with the form.
            return f"portail_session={client.cookies['portail_session']}; portail_csrf={token}"

    def csrf_token(self) -> str:
        return str(httpx.get(self.base + "/boe/connexion").cookies["portail_csrf"])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


# --- The database --------------------------------------------------------------------------


async def seed(database_url: str, config_path: Path) -> int:
    """Migrate, then the parent's invoices among 1,000; returns an invoice to pay's id."""
    engine = db.use_database(database_url)
    await db.open_database(engine)
    try:
        await db.migrate()
        config = parse_config(_toml(config_path))
        commune = (await sync_communes(config))["boe"]
        regie = (await Invoice.raw("SELECT id FROM regie WHERE commune = {}", commune))[0]["id"]
        payers = await Payer.insert(
            *[
                Payer(commune=commune, external_ref=f"B{n}", name=f"Famille {n}", search_name="")
                for n in range(49)
            ]
        ).returning(Payer.id)
        mine = payers[0]["id"]
        await PayerEmail.insert(PayerEmail(commune=commune, payer=mine, email=EMAIL))
        password_hash = await passwords.hash_password(PASSWORD)
        await add_active_account(commune, EMAIL, password_hash)
        # The login test's accounts (one address allows 10 failed logins in 15 minutes).
        for n in range(LOGIN_ACCOUNTS):
            await add_active_account(commune, login_email(n), password_hash)
        states = [TO_PAY] * 20 + [PAID] * 10 + [TREASURY] * 5
        rows = [(mine, state) for state in states]
        rows += [(payers[1 + n % 48]["id"], (TO_PAY, PAID)[n % 2]) for n in range(1000 - 35)]
        now = dt.datetime.now(dt.UTC)
        invoices = [
            Invoice(
                commune=commune,
                regie=regie,
                payer=payer,
                number=f"2026-{n:06d}",
                object="Restauration scolaire",
                issued_on=dt.date(2026, 1, 1) + dt.timedelta(days=n % 60),
                due_on=dt.date.today() + dt.timedelta(days=20),
                amount_cents=4000 + n,
                paid_cents=4000 + n if state == PAID else 0,
                status=state,
                published_at=now,
                updated_at=now,
            )
            for n, (payer, state) in enumerate(rows)
        ]
        await Invoice.insert(*invoices)
        first = await Invoice.raw(
            "SELECT MIN(id) AS id FROM invoice WHERE payer = {} AND status = {}", mine, TO_PAY
        )
        return int(first[0]["id"])
    finally:
        await db.close_database(engine)


def _toml(path: Path) -> dict[str, object]:
    import tomllib

    return tomllib.loads(path.read_text())


async def grow(database_url: str) -> float:
    from growth_data import add_growth_data

    engine = db.use_database(database_url)
    await db.open_database(engine)
    try:
        return await add_growth_data()
    finally:
        await db.close_database(engine)


class PostgresDatabase:
    """A database of its own on the server, dropped at the end."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.name = f"perf_bench_{uuid.uuid4().hex[:10]}"
        self.url = urlunsplit(urlsplit(server_url)._replace(path=f"/{self.name}"))

    async def create(self) -> None:
        admin = await asyncpg.connect(self.server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await admin.close()

    async def drop(self) -> None:
        admin = await asyncpg.connect(self.server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.contextmanager
def bench_database(engine: str, scratch: Path, postgres_url: str) -> Iterator[BenchDatabase]:
    """A fresh seeded database for `engine` ("sqlite": a file in `scratch`; "postgres": a
    database of its own on `postgres_url`'s server, dropped at the end), with its config."""
    config_path = scratch / "portail.toml"
    config_path.write_text(CONFIG_TOML)
    postgres = None
    if engine == "sqlite":
        database_url = f"sqlite:///{scratch / f'{engine}.sqlite'}"
    else:
        postgres = PostgresDatabase(postgres_url)
        asyncio.run(postgres.create())
        database_url = postgres.url
    try:
        detail_id = asyncio.run(seed(database_url, config_path))
        yield BenchDatabase(database_url, config_path, detail_id)
    finally:
        if postgres is not None:
            asyncio.run(postgres.drop())


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    config_path: Path
    detail_id: int
    """The parent's invoice whose detail is measured."""


# --- Measures ------------------------------------------------------------------------------


def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0 when nothing was measured (a run that got no answer)."""
    return numerator / denominator if denominator else 0.0


def fmt_spread(values: list[float], pattern: str = "{:.0%}") -> str:
    median, low, high = spread(values)
    return f"{pattern.format(median)} ({pattern.format(low)} to {pattern.format(high)})"


@dataclass
class EngineResult:
    engine: str
    rounds: list[dict[str, Load]]
    rss_mb: float = 0.0
    logins_per_s: float = 0.0
    login_errors: int = 0
    p99_idle_ms: float = 0.0
    p99_logins_ms: float = 0.0
    workers: list[str] = field(default_factory=list)
    growth: list[str] = field(default_factory=list)
    growth_p50_ratio: float | None = None
    lines: list[str] = field(default_factory=list)

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)


def measure_rounds(
    server: Server, cookie: str, pages: list[Target], args: argparse.Namespace, result: EngineResult
) -> None:
    for target in pages:  # warm-up: templates compiled, caches filled, connections open
        wrk(server.base + target.path, cookie, 1, 8, target.headers)
    for number in range(1, args.rounds + 1):
        loads = {
            t.name: wrk(
                server.base + t.path,
                cookie,
                args.seconds,
                args.connections,
                t.headers,
                server.total_cpu_ticks,
            )
            for t in pages
        }
        result.rounds.append(loads)
        result.say(f"  round {number}:")
        plain = loads["plain text"]
        for t in pages:
            load = loads[t.name]
            shares = ""
            if t.reference:
                fixed = loads[t.reference]
                shares = (
                    f"   req/s {ratio(load.requests_per_s, plain.requests_per_s):4.0%} of plain,"
                    f" {ratio(load.requests_per_s, fixed.requests_per_s):4.0%} of fixed;"
                    f" CPU {ratio(plain.cpu_ms, load.cpu_ms):4.0%} of plain,"
                    f" {ratio(fixed.cpu_ms, load.cpu_ms):4.0%} of fixed"
                )
            result.say(
                f"    {t.name:<18} {load.requests_per_s:6.0f} req/s  p50 {load.p50_ms:6.1f} ms"
                f"  p99 {load.p99_ms:6.1f} ms  CPU {load.cpu_ms:5.2f} ms/req"
                f"  errors {load.errors}{shares}"
            )


def measure_logins(
    server: Server,
    cookie: str,
    page: Target,
    args: argparse.Namespace,
    result: EngineResult,
    scratch: Path,
) -> None:
    """Logins/s with 20 at once, and the page's p99 meanwhile (vs alone, just before)."""
    script = scratch / "login.lua"
    token = server.csrf_token()
    script.write_text(LOGIN_LUA.format(accounts=LOGIN_ACCOUNTS, password=PASSWORD, token=token))
    idle = wrk(server.base + page.path, cookie, args.seconds, args.connections, page.headers)
    # Long enough for logins to complete on a busy machine (one takes seconds there: Argon2id
    # runs at most one per core); the page is loaded in the middle of it.
    login_cmd = ["wrk", "-t1", "-c20", "--timeout", "30s", f"-d{LOGIN_SECONDS}s",
                 "-s", str(script), server.base + "/boe/connexion"]  # fmt: skip
    logins = subprocess.Popen(login_cmd, stdout=subprocess.PIPE, text=True)  # noqa: S603
    time.sleep((LOGIN_SECONDS - args.seconds) / 2)
    busy = wrk(server.base + page.path, cookie, args.seconds, args.connections, page.headers)
    out, _ = logins.communicate()
    done = _LOGINS.search(out)
    result.logins_per_s = int(done.group(1)) / float(done.group(2)) if done else 0.0
    result.login_errors = sum(int(a or b or 0) for a, b in _ERRORS.findall(out))
    result.p99_idle_ms, result.p99_logins_ms = idle.p99_ms, busy.p99_ms
    result.say(
        f"  logins (Argon2id m={passwords.ARGON2_MEMORY_COST_KIB} KiB t="
        f"{passwords.ARGON2_TIME_COST} p={passwords.ARGON2_PARALLELISM}), 20 at once: "
        f"{result.logins_per_s:.1f} successful logins/s, errors {result.login_errors}; "
        f"{page.name} p99 {idle.p99_ms:.1f} ms alone, {busy.p99_ms:.1f} ms during the logins "
        f"({ratio(busy.p99_ms, idle.p99_ms):.2f}x)"
    )


def summarise(result: EngineResult, pages: list[Target]) -> None:
    """Each page's share of plain text and of the fixed-data render, over the rounds: by
    requests/s (what the machine gave this run) and by the server's CPU time per request (the
    cost itself, which other processes hardly change)."""
    result.say(f"  summary over {len(result.rounds)} rounds (median, min to max):")
    for t in pages:
        if not t.reference:
            continue
        reference = t.reference
        rounds = result.rounds
        rate_plain = [
            ratio(r[t.name].requests_per_s, r["plain text"].requests_per_s) for r in rounds
        ]
        rate_fixed = [ratio(r[t.name].requests_per_s, r[reference].requests_per_s) for r in rounds]
        cpu_plain = [ratio(r["plain text"].cpu_ms, r[t.name].cpu_ms) for r in rounds]
        cpu_fixed = [ratio(r[reference].cpu_ms, r[t.name].cpu_ms) for r in rounds]
        p99 = [r[t.name].p99_ms for r in rounds]
        result.say(f"    {t.name}:")
        result.say(
            f"      req/s: {fmt_spread(rate_plain)} of plain text (target {TARGET_PLAIN:.0%}), "
            f"{fmt_spread(rate_fixed)} of fixed data (target {TARGET_FIXED:.0%})"
        )
        result.say(
            f"      CPU per request: {fmt_spread(cpu_plain)} of plain text, "
            f"{fmt_spread(cpu_fixed)} of fixed data"
        )
        result.say(f"      p99 at {CONNECTIONS} connections: {fmt_spread(p99, '{:.0f} ms')}"
                   f" (target {TARGET_P99_MS:.0f} ms)")  # fmt: skip
    result.say(
        f"  peak RSS of the server process after the rounds: {result.rss_mb:.0f} MB"
        f" (target < {TARGET_RSS_MB:.0f} MB)"
    )


def measure_workers(
    database_url: str,
    config_path: Path,
    counts: list[int],
    page: Target,
    args: argparse.Namespace,
    result: EngineResult,
) -> None:
    """req/s with N worker processes: keep-alive, and a new connection per request (which the
    kernel spreads over the workers' `accept()`), with each worker's share of the CPU."""
    result.say(f"  workers ({page.name}, {args.connections} connections):")
    for count in counts:
        server = Server(database_url, config_path, workers=count)
        try:
            server.wait()
            time.sleep(1)
            cookie = server.login()
            url = server.base + page.path
            wrk(url, cookie, 1, 8, page.headers)
            for mode, extra in (
                ("keep-alive", []),
                ("new connection each", ["-H", "Connection: close"]),
            ):
                before = server.cpu_ticks()
                load = wrk(url, cookie, args.seconds, args.connections, [*page.headers, *extra])
                ticks = [a - b for a, b in zip(server.cpu_ticks(), before, strict=True)]
                line = (f"    {count} worker(s), {mode:<20} {load.requests_per_s:7.0f} req/s  "
                        f"p50 {load.p50_ms:6.1f} ms  p99 {load.p99_ms:7.1f} ms  "
                        f"CPU ticks per worker {ticks}")  # fmt: skip
                result.say(line)
                result.workers.append(line.strip())
        finally:
            server.stop()


def measure_growth(
    server: Server,
    database_url: str,
    cookie: str,
    page: Target,
    args: argparse.Namespace,
    result: EngineResult,
) -> None:
    def loads() -> list[Load]:
        url = server.base + page.path
        return [wrk(url, cookie, args.seconds, args.connections, page.headers,
                    server.total_cpu_ticks) for _ in range(args.rounds)]  # fmt: skip

    small = loads()
    seconds = asyncio.run(grow(database_url))
    wrk(server.base + page.path, cookie, 1, 8, page.headers)
    large = loads()
    p50_ratio = ratio(
        statistics.median(x.p50_ms for x in large), statistics.median(x.p50_ms for x in small)
    )
    cpu_ratio = ratio(
        statistics.median(x.cpu_ms for x in large), statistics.median(x.cpu_ms for x in small)
    )
    lines = [
        "growth data (100 communes, 100,000 payers, 1,000,000 invoices) written in "
        f"{seconds:.0f} s",
        f"{page.name} with 1,000 invoices: p50 {fmt_spread([x.p50_ms for x in small], '{:.1f} ms')}"
        f", CPU {fmt_spread([x.cpu_ms for x in small], '{:.2f} ms')} per request",
        f"{page.name} with 1,001,000 invoices: p50 "
        f"{fmt_spread([x.p50_ms for x in large], '{:.1f} ms')}"
        f", CPU {fmt_spread([x.cpu_ms for x in large], '{:.2f} ms')} per request",
        f"ratio of the medians, 1,001,000 / 1,000: p50 {p50_ratio:.2f} (target at most 1.25), "
        f"CPU per request {cpu_ratio:.2f}",
    ]
    for line in lines:
        result.say("  " + line)
    result.growth = lines
    result.growth_p50_ratio = p50_ratio


def run_engine(engine: str, args: argparse.Namespace, scratch: Path) -> EngineResult:
    result = EngineResult(engine=engine, rounds=[])
    with bench_database(engine, scratch, args.postgres) as database:
        pages = targets(database.detail_id)
        server = Server(database.url, database.config_path)
        try:
            server.wait()
            cookie = server.login()
            result.say(f"{engine}: server pid {server.process.pid}, {args.rounds} rounds of "
                       f"{args.seconds} s per URL, {args.connections} connections")  # fmt: skip
            measure_rounds(server, cookie, pages, args, result)
            result.rss_mb = server.peak_rss_mb()
            summarise(result, pages)
            measure_logins(server, cookie, pages[2], args, result, scratch)
            result.rss_mb = server.peak_rss_mb()
            result.say(f"  peak RSS of the server process after the logins: {result.rss_mb:.0f} MB")
            if args.growth:
                measure_growth(server, database.url, cookie, pages[2], args, result)
                result.rss_mb = server.peak_rss_mb()
                result.say(f"  peak RSS after the growth runs: {result.rss_mb:.0f} MB")
        finally:
            server.stop()
        # Several processes share a database in production on PostgreSQL only.
        if args.workers and engine == "postgres":
            measure_workers(
                database.url, database.config_path, args.workers, pages[2], args, result
            )
    return result


TARGET_GROWTH, TARGET_LOGIN_P99 = 1.25, 2.0
SHORT_NAMES = {"À régler": "list", "À régler fragment": "fragment", "detail fragment": "detail"}


def targets_table(results: list[EngineResult]) -> list[str]:
    """Each target against each engine, from the medians of this run's rounds (Markdown)."""
    engines = [r.engine for r in results]
    rows = [
        "| target | " + " | ".join(engines) + " |",
        "|---" * (len(engines) + 1) + "|",
    ]

    def cell(met: bool, text: str) -> str:
        return f"{'**met**' if met else 'not met'}: {text}"

    def per_page(result: EngineResult, value: Callable[[dict[str, Load], str], float]) -> dict:
        return {
            short: statistics.median(value(r, name) for r in result.rounds)
            for name, short in SHORT_NAMES.items()
        }

    references = {t.name: t.reference for t in targets(0) if t.reference}
    plain = {r.engine: per_page(r, lambda rnd, n: ratio(
        rnd[n].requests_per_s, rnd["plain text"].requests_per_s)) for r in results}  # fmt: skip
    fixed = {r.engine: per_page(r, lambda rnd, n: ratio(
        rnd[n].requests_per_s, rnd[references[n]].requests_per_s)) for r in results}  # fmt: skip
    p99 = {r.engine: per_page(r, lambda rnd, n: rnd[n].p99_ms) for r in results}

    def shares(values: dict[str, float], pattern: str) -> str:
        return ", ".join(f"{short} {pattern.format(v)}" for short, v in values.items())

    lines = [
        (f"≥ {TARGET_PLAIN:.0%} of plain text (req/s)",
         [cell(min(plain[e].values()) >= TARGET_PLAIN, shares(plain[e], "{:.1%}"))
          for e in engines]),
        (f"≥ {TARGET_FIXED:.0%} of the fixed-data render (req/s)",
         [cell(min(fixed[e].values()) >= TARGET_FIXED, shares(fixed[e], "{:.1%}"))
          for e in engines]),
        (f"p99 ≤ {TARGET_P99_MS:.0f} ms at {CONNECTIONS} connections",
         [cell(max(p99[e].values()) <= TARGET_P99_MS, shares(p99[e], "{:.0f} ms"))
          for e in engines]),
        (f"peak RSS < {TARGET_RSS_MB:.0f} MB",
         [cell(r.rss_mb < TARGET_RSS_MB, f"{r.rss_mb:.0f} MB") for r in results]),
        (f"page p99 while 20 logins run ≤ {TARGET_LOGIN_P99:.0f}× idle",
         [cell(ratio(r.p99_logins_ms, r.p99_idle_ms) <= TARGET_LOGIN_P99,
               f"{ratio(r.p99_logins_ms, r.p99_idle_ms):.2f}× ({r.logins_per_s:.0f} logins/s, "
               f"{r.login_errors} errors)") for r in results]),
    ]  # fmt: skip
    if any(r.growth_p50_ratio is not None for r in results):
        lines.append((
            f"p50 with 1,001,000 invoices ≤ {TARGET_GROWTH}× with 1,000",
            [cell(r.growth_p50_ratio <= TARGET_GROWTH, f"{r.growth_p50_ratio:.2f}×")
             if r.growth_p50_ratio is not None else "not measured" for r in results],
        ))  # fmt: skip
    rows += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in lines]
    return rows


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )


def write_docs(results: list[EngineResult], command: str, started: str, ended: str) -> None:
    """Replace the generated section of docs/performance.md with this run's output."""
    body = ["Where each target stands in this run (medians of its rounds):", "",
            *targets_table(results), "", f"    $ {command}", f"    machine at start: {started}",
            f"    machine at end:   {ended}", ""]  # fmt: skip
    for result in results:
        body += [f"    {line}" if line else "" for line in result.lines] + [""]
    write_generated_section("bench/pages.py", body)


def write_generated_section(script: str, body: list[str]) -> None:
    """Put `body` between the script's markers in docs/performance.md, in place of what an
    earlier run wrote there (at the end the first time)."""
    begin, end = f"<!-- {script}: begin -->", f"<!-- {script}: end -->"
    section = "\n".join([begin, "", *body, end])
    text = DOCS.read_text() if DOCS.exists() else ""
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) :]
    else:
        text = text + "\n" + section + "\n"
    DOCS.write_text(text)
    print(f"wrote {DOCS.relative_to(ROOT)}")


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """`--engines` and `--postgres`, as every script of the parents' pages takes them."""
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "PORTAIL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server where the benchmark may create (and drop) a database",
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3, help="per URL and round")
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--workers", type=lambda v: [int(n) for n in v.split(",")], default=[])
    parser.add_argument("--growth", action="store_true", help="also 1,000 vs 1,000,000 invoices")
    parser.add_argument("--write-docs", action="store_true", help=f"write into {DOCS.name}")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        print("pages: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 2
    started = machine()
    print(f"pages: {started}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="portail-pages-") as scratch:
        for engine in args.engines.split(","):
            results.append(run_engine(engine, args, Path(scratch)))
    ended = machine()
    print(f"pages: done, {ended}")
    print("\n".join(targets_table(results)))
    if args.write_docs:
        write_docs(results, "bench/pages.py " + " ".join(sys.argv[1:]), started, ended)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
