"""Load: simulated parents on loopback against a real server, for a bounded time.

    .venv/bin/python bench/load_parents.py                       # SQLite, 200 parents, 60 s
    .venv/bin/python bench/load_parents.py --engine postgres     # a private PostgreSQL database
    .venv/bin/python bench/load_parents.py --parents 20 --seconds 10

It seeds `--parents` parents (one payer, an active account and `INVOICES_EACH` invoices each,
generated and imported as a commune's billing export would be), starts the PayFiP simulator, a
mail sink and `portail serve` in their own processes, then runs every parent as an asyncio task
on its own keep-alive connection, from its own address (X-Forwarded-For behind one trusted
proxy hop, as in production, so per-address limits count each parent apart). Each parent loops:
log in, list the invoices, open one, download its PDF, pay one invoice by card through the
simulator (summary, "Payer", the simulator's card page, the return, the result page) while it
has some to pay, log out; between two steps it reads for `--think` seconds on average (0: none,
a stress test rather than parents).

It prints, per step, the number done, the throughput and the 50th/95th percentile latency, the
errors (any unexpected status), and then checks the database: every payment the simulator
accepted is settled, exactly once (none lost, none doubled). Exit status 1 on any error, lost
or doubled payment. The client is a minimal HTTP/1.1 client on asyncio streams (as in
`sqlite_reads.py`): httpx would eat a core of this 2-core machine by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from e2e.seed import InvoiceRow, invoices_csv  # noqa: E402
from simulators.payfip.app import ACCEPTED_CARD, PAYMENT_PATH  # noqa: E402

VENV_BIN = Path(sys.executable).parent
DEMO_CONFIG = REPO / "examples" / "portail.demo.toml"
DEMO_SIMULATOR_URL = "http://127.0.0.1:8001"
SLUG = "boe"
PASSWORD = "une phrase de passe pour la charge"  # noqa: S105 - the seeded accounts'
INVOICES_EACH = 3
RECHECK_WAIT_SECONDS = 30
POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
CSRF = re.compile(rb'name="_csrf_token" value="([^"]+)"')
INVOICE_LINK = re.compile(rb'href="/boe/factures/(\d+)"')
IDOP = re.compile(r"[?&]idop=([0-9a-f-]{36})")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- A lean HTTP/1.1 client with cookies -------------------------------------------------------


class Unexpected(Exception):
    """An answer the journey did not expect: counted as an error of its step."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


@dataclass
class Browser:
    """One keep-alive connection per origin, a cookie jar, and the parent's own address."""

    address: str
    cookies: dict[str, str] = field(default_factory=dict)
    streams: dict[tuple[str, int], tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(
        default_factory=dict
    )

    async def request(
        self, method: str, url: str, form: dict[str, str] | None = None, expect: int = 200
    ) -> Answer:
        parts = urlsplit(url)
        origin = (parts.hostname or "127.0.0.1", parts.port or 80)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = "&".join(f"{quote(k)}={quote(v)}" for k, v in (form or {}).items()).encode()
        head = [f"{method} {target} HTTP/1.1", f"Host: {origin[0]}:{origin[1]}"]
        head.append(f"X-Forwarded-For: {self.address}")
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if method != "GET":
            head += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        for retry in (True, False):  # a kept-alive connection the server closed: once more
            try:
                answer = await self._exchange(origin, raw)
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                self._forget(origin)
                if not retry:
                    raise
        if answer.status != expect:
            raise Unexpected(f"{method} {target}: {answer.status}, expected {expect}")
        return answer

    async def _exchange(self, origin: tuple[str, int], raw: bytes) -> Answer:
        if origin not in self.streams:
            self.streams[origin] = await asyncio.open_connection(*origin)
        reader, writer = self.streams[origin]
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookie, _, _ = value.partition(";")
                key, _, val = cookie.partition("=")
                if val and "max-age=0" not in value.lower():
                    self.cookies[key] = val
                else:
                    self.cookies.pop(key, None)
            elif name:
                headers[name] = value
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                body += await reader.readexactly(size)
                await reader.readexactly(2)
            await reader.readexactly(2)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            self._forget(origin)
        return Answer(status, headers, body)

    def _forget(self, origin: tuple[str, int]) -> None:
        stream = self.streams.pop(origin, None)
        if stream is not None:
            stream[1].close()

    def close(self) -> None:
        for origin in list(self.streams):
            self._forget(origin)


# --- One parent ---------------------------------------------------------------------------


@dataclass
class Figures:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    paid: list[tuple[str, int]] = field(default_factory=list)  # (idop, invoice id) accepted


async def parent_journey(
    portal: str, email: str, number: int, deadline: float, think: float, figures: Figures
) -> None:
    browser = Browser(address=f"10.{number // 250}.{number % 250}.{1 + number % 200}")
    to_pay: list[int] | None = None
    pause = random.Random(number)

    async def step(name: str, work: Awaitable[T]) -> T | None:
        # A person reads before the next click (0.5 to 1.5 times `think`); 0: no pause at all.
        await asyncio.sleep(think * pause.uniform(0.5, 1.5))
        started = time.perf_counter()
        try:
            result = await work
        except (Unexpected, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            figures.errors[name].append(f"{email}: {exc}")
            browser.close()
            browser.cookies.clear()
            return None
        figures.latencies[name].append(time.perf_counter() - started)
        return result

    async def log_in() -> bool:
        page = await browser.request("GET", f"{portal}/{SLUG}/connexion")
        token = CSRF.search(page.body)
        if token is None:
            raise Unexpected("no CSRF token on the sign-in page")
        form = {"email": email, "password": PASSWORD, "_csrf_token": token.group(1).decode()}
        await browser.request("POST", f"{portal}/{SLUG}/connexion", form, expect=303)
        return True

    async def list_invoices() -> list[int]:
        page = await browser.request("GET", f"{portal}/{SLUG}/factures")
        return sorted({int(i) for i in INVOICE_LINK.findall(page.body)})

    async def open_invoice(invoice: int) -> bool:
        await browser.request("GET", f"{portal}/{SLUG}/factures/{invoice}")
        return True

    async def pdf(invoice: int) -> bool:
        answer = await browser.request("GET", f"{portal}/{SLUG}/factures/{invoice}/pdf")
        if not answer.body.startswith(b"%PDF"):
            raise Unexpected("the PDF is not a PDF")
        return True

    async def pay(invoice: int) -> bool:
        summary = await browser.request("GET", f"{portal}/{SLUG}/paiement?facture={invoice}")
        token = CSRF.search(summary.body)
        if token is None:
            raise Unexpected("no CSRF token on the summary")
        form = {"facture": str(invoice), "_csrf_token": token.group(1).decode()}
        start = await browser.request("POST", f"{portal}/{SLUG}/paiement", form, expect=303)
        idop = IDOP.search(start.location)
        if idop is None:
            raise Unexpected(f"not sent to the service: {start.location}")
        await browser.request("GET", start.location)
        card = {"idop": idop.group(1), "numero_carte": ACCEPTED_CARD}
        service = start.location.split("?")[0]
        back = await browser.request("POST", f"{service}/carte", card, expect=303)
        figures.paid.append((idop.group(1), invoice))
        result = await browser.request("GET", back.location, expect=303)
        await browser.request("GET", portal + result.location)
        return True

    async def log_out() -> bool:
        page = await browser.request("GET", f"{portal}/{SLUG}/factures")
        token = CSRF.search(page.body)
        form = {"_csrf_token": token.group(1).decode() if token else ""}
        await browser.request("POST", f"{portal}/{SLUG}/deconnexion", form, expect=303)
        browser.cookies.clear()
        return True

    try:
        while time.monotonic() < deadline:
            if not await step("log in", log_in()):
                continue
            invoices = await step("list", list_invoices())
            if invoices is None:  # the step failed: its cookies are gone already
                continue
            if not invoices:  # everything paid: nothing left to open, sign out
                await step("log out", log_out())
                continue
            if to_pay is None:
                to_pay = list(invoices)
            invoice = invoices[number % len(invoices)]
            await step("open", open_invoice(invoice))
            await step("PDF", pdf(invoice))
            if to_pay and time.monotonic() < deadline:
                await step("pay", pay(to_pay.pop()))
            await step("log out", log_out())
    finally:
        browser.close()


# --- Set-up: database, seed, processes ----------------------------------------------------


@dataclass
class Stack:
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    drop_database: str = ""

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def start_process(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, **options)  # noqa: S603 - our own commands


def wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 180) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback http)
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {seconds} s")


async def create_database(engine: str) -> str:
    if engine == "sqlite":
        return ""
    import asyncpg

    name = f"trust_prove_load_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_SERVER)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def drop_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(POSTGRES_SERVER)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def parent_email(number: int) -> str:
    return f"parent{number:04d}@charge.example.org"


def seed(env: dict[str, str], tmp: Path, parents: int) -> None:
    """The demo communes, then `parents` payers with their invoices and active accounts."""
    rows = [
        InvoiceRow(
            f"CH{n:04d}",
            f"Famille Charge {n}",
            parent_email(n),
            "CANT",
            f"CH-{n:04d}-{k}",
            1000 + 37 * n + k,
            "Restauration scolaire",
        )
        for n in range(parents)
        for k in range(INVOICES_EACH)
    ]
    export = tmp / "charge.csv"
    export.write_text(invoices_csv(rows), "utf-8")
    for command in (
        [str(VENV_BIN / "portail"), "seed-demo"],
        [
            str(VENV_BIN / "python"),
            str(REPO / "e2e" / "seed.py"),
            SLUG,
            "--invoices",
            str(export),
            "--password",
            PASSWORD,
        ],
    ):
        subprocess.run(  # noqa: S603 - our own commands
            command, env=env, cwd=tmp, check=True, capture_output=True, timeout=600
        )


async def settle_and_check(
    env: dict[str, str], paid: list[tuple[str, int]], seconds: float
) -> tuple[int, int, int]:
    """(lost, doubled, settled late). Attempts still open are made due, as if their re-check
    time had come, and the server's background re-check gets `seconds` to settle them (a return
    or notification refused under load is what it is for). Then: accepted payments whose
    invoice is not settled by their attempt (lost), invoices settled by more than one attempt
    (doubled)."""
    os.environ.update(env)
    from core import db
    from core.db import transaction
    from core.invoices.tables import PAID, Invoice
    from core.payments.tables import OPEN_STATES, PaymentAttempt, PaymentAttemptInvoice

    engine = db.use_database(env["DATABASE_URL"])
    await db.open_database(engine)
    try:
        is_open = PaymentAttempt.state.is_in(list(OPEN_STATES))
        late = await PaymentAttempt.count().where(is_open)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and await PaymentAttempt.count().where(is_open):
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            async with transaction():
                await PaymentAttempt.update({PaymentAttempt.next_check_at: past}).where(is_open)
            await asyncio.sleep(1)
        late -= await PaymentAttempt.count().where(is_open)
        attempts = {
            row["provider_reference"]: row
            for row in await PaymentAttempt.select(
                PaymentAttempt.provider_reference, PaymentAttempt.state
            )
        }
        invoices = {row["id"]: row for row in await Invoice.select(Invoice.id, Invoice.status)}
        lost = sum(
            1
            for idop, invoice in paid
            if attempts.get(idop, {}).get("state") != "paid" or invoices[invoice]["status"] != PAID
        )
        settling: dict[int, int] = defaultdict(int)
        for link in await PaymentAttemptInvoice.select(
            PaymentAttemptInvoice.invoice, PaymentAttemptInvoice.attempt.state.as_alias("state")
        ):
            if link["state"] == "paid":
                settling[link["invoice"]] += 1
        doubled = sum(1 for count in settling.values() if count > 1)
    finally:
        await db.close_database(engine)
    return lost, doubled, late


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="trust-prove-load-"))
    stack = Stack()
    from core.mail.sink import MailSink

    sink = MailSink(max_messages=100_000).start()
    name = await create_database(args.engine)
    try:
        sim_port, port = free_port(), free_port()
        simulator = f"http://127.0.0.1:{sim_port}"
        portal = f"http://127.0.0.1:{port}"
        config = tmp / "portail.toml"
        config.write_text(DEMO_CONFIG.read_text("utf-8").replace(DEMO_SIMULATOR_URL, simulator))
        database = (
            f"sqlite:///{tmp / 'charge.sqlite'}"
            if args.engine == "sqlite"
            else POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
        )
        env = {
            **os.environ,
            "DATABASE_URL": database,
            "PORTAIL_CONFIG": str(config),
            "PORTAIL_SECRET_KEY": secrets.token_urlsafe(32),
            "PORTAIL_BASE_URL": portal,
            "PORTAIL_TRUSTED_PROXY_HOPS": "1",
            "PORTAIL_PAYMENT_RECHECK_INTERVAL": "1",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
        }
        for variable in ("PORTAIL_DEBUG", "PORTAIL_DEMO"):
            env.pop(variable, None)
        started = time.monotonic()
        seed(env, tmp, args.parents)
        print(f"seeded {args.parents} parents in {time.monotonic() - started:.1f} s")
        log = (tmp / "processes.log").open("wb")
        stack.processes.append(
            start_process(
                [
                    str(VENV_BIN / "python"),
                    "-m",
                    "simulators.payfip",
                    "--port",
                    str(sim_port),
                    "--log-level",
                    "warning",
                ],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        stack.processes.append(
            start_process(
                [
                    str(VENV_BIN / "portail"),
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                ],
                env=env,
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_for(simulator + PAYMENT_PATH, stack.processes[0])
        wait_for(f"{portal}/{SLUG}/connexion", stack.processes[1])

        figures = Figures()
        load = os.getloadavg()[0]
        began = time.monotonic()
        deadline = began + args.seconds
        await asyncio.gather(
            *(
                parent_journey(portal, parent_email(n), n, deadline, args.think, figures)
                for n in range(args.parents)
            )
        )
        elapsed = time.monotonic() - began
        await asyncio.sleep(2)  # the last notifications
        lost, doubled, late = await settle_and_check(env, figures.paid, RECHECK_WAIT_SECONDS)
        errors = sum(len(e) for e in figures.errors.values())
        print(
            f"load_parents: {args.engine}, {args.parents} parents, {elapsed:.0f} s, "
            f"think time {args.think:g} s, "
            f"{args.workers} worker(s), {os.cpu_count()} CPUs shared (load average "
            f"{load:.2f} before the run)"
        )
        print(f"{'step':<8} {'done':>6} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}")
        for step_name in ("log in", "list", "open", "PDF", "pay", "log out"):
            times = figures.latencies.get(step_name, [])
            print(
                f"{step_name:<8} {len(times):>6} {len(times) / elapsed:>7.1f} "
                f"{percentile(times, 0.5) * 1000:>8.0f} {percentile(times, 0.95) * 1000:>8.0f} "
                f"{len(figures.errors.get(step_name, [])):>7}"
            )
        print(
            f"payments accepted by the service: {len(figures.paid)}, settled by the re-check "
            f"after the run: {late}, lost: {lost}, doubled: {doubled}; errors: {errors}"
        )
        for step_name, messages in figures.errors.items():
            for message in messages[:3]:
                print(f"  error ({step_name}): {message}")
        return 1 if errors or lost or doubled else 0
    finally:
        stack.stop()
        sink.stop()
        if name:
            await drop_database(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--parents", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--think", type=float, default=2.0, help="seconds a parent reads between two steps"
    )
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
