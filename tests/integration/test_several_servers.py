"""Two `portail serve` processes on two loopback ports, sharing one PostgreSQL database.

What a commune that runs several servers behind its reverse proxy relies on: a session opened on
one server is valid on the other and ends on both; the login rate limit counts across both; a
notification on one and the browser's return on the other settle a payment once; two outbox
senders deliver each message once; the background re-check asks once per due attempt; when the
process running the background work dies, the other takes over.

The servers pay through the PayFiP simulator (in a thread of this process) and send to a real
SMTP sink on loopback. The database is this module's own, created and dropped here. The tests
share the two servers, in this order: the last one kills one of them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from core.invoices.tables import PAID
from core.mail.sink import MailSink
from core.payments.checks import MIN_SECONDS_BETWEEN_CHECKS
from e2e.seed import InvoiceRow, invoices_csv
from simulators.payfip import RunningSimulator, simulator_in_thread
from tests.conftest import private_postgres_database
from tests.integration.portail_process import free_port

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DEMO_CONFIG = REPO / "examples" / "portail.demo.toml"
DEMO_SIMULATOR_URL = "http://127.0.0.1:8001"
PASSWORD = "une phrase de passe assez longue"
CLAIRE, JEAN = "claire@servers.test", "jean@servers.test"
START_TIMEOUT = 60.0
WORKERS_START_TIMEOUT = 240.0
TAKEOVER_BOUND = 15.0  # seconds: the followers try again every 5 s (core.leader.RETRY_SECONDS)
CSRF_PATTERN = re.compile(r'name="_csrf_token" value="([^"]+)"')
IDOP_PATTERN = re.compile(r"[?&]idop=([0-9a-f-]{36})")
# The processes competing for the background work (core.leader), and the one holding it.
CANDIDATES = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND application_name LIKE 'portail background pid %'"
)
LEADER = (
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'portail background%' "
    "AND l.database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(env: dict[str, str], tmp: Path, name: str, workers: int = 1) -> Server:
    """`portail serve` on a free loopback port (`--workers`: as many processes)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp / f"server-{name}.log"
    command = [str(VENV_BIN / "portail"), "serve", "--port", str(port), "--workers", str(workers)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            command,
            env={**env, "PORTAIL_BASE_URL": base_url},
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Server(base_url, process, log_path)


@dataclass
class Cluster:
    database_url: str
    servers: list[Server]
    sim: RunningSimulator
    sink: MailSink
    env: dict[str, str]
    tmp: Path

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.database_url)
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    async def value(self, query: str, *args: Any) -> Any:
        rows = await self.fetch(query, *args)
        return rows[0][0] if rows else None


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with simulator_in_thread() as sim:
        yield sim


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    with MailSink() as sink:
        yield sink


@pytest.fixture(scope="module")
async def database_of_the_module() -> AsyncIterator[str]:
    async with private_postgres_database("servers") as url:
        yield url


@pytest.fixture(scope="module")
def cluster(
    database_of_the_module: str,
    simulator: RunningSimulator,
    sink: MailSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("servers")
    config = DEMO_CONFIG.read_text("utf-8").replace(DEMO_SIMULATOR_URL, simulator.base_url)
    (tmp / "portail.toml").write_text(config, "utf-8")
    env = {
        **os.environ,
        "DATABASE_URL": database_of_the_module,
        "PORTAIL_CONFIG": str(tmp / "portail.toml"),
        "PORTAIL_SECRET_KEY": secrets.token_urlsafe(32),  # the same on both servers
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "PORTAIL_OUTBOX_INTERVAL": "0.2",
        "PORTAIL_PAYMENT_RECHECK_INTERVAL": "0.3",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("PORTAIL_DEBUG", "PORTAIL_DEMO", "PORTAIL_OUTBOX_SENDER", "REDIS_URL"):
        env.pop(name, None)  # a developer's shell must not change what is tested
    invoices = tmp / "factures.csv"
    rows = [
        *(
            InvoiceRow("S1", "Famille Martin", CLAIRE, "CANT", f"SRV-{n}", 1000 * n, "Cantine")
            for n in range(1, 9)
        ),
        InvoiceRow("S2", "Famille Durand", JEAN, "CANT", "SRV-J", 900, "Cantine"),
    ]
    invoices.write_text(invoices_csv(rows), "utf-8")
    for command in (
        [str(VENV_BIN / "portail"), "migrate"],
        [
            str(VENV_BIN / "python"),
            str(REPO / "e2e" / "seed.py"),
            "boe",
            "--invoices",
            str(invoices),
            "--password",
            PASSWORD,
        ],
    ):
        done = subprocess.run(command, env=env, cwd=tmp, capture_output=True, timeout=120)  # noqa: S603
        assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")

    servers: list[Server] = []
    try:
        for name in ("a", "b"):
            servers.append(start_server(env, tmp, name))
        for server in servers:
            wait_until_up(server)
        yield Cluster(database_of_the_module, servers, simulator, sink, env, tmp)
    finally:
        for server in servers:
            server.stop()


def wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(server.base_url + "/boe/connexion", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{server.base_url} did not start:\n{server.log()}", pytrace=False)


async def csrf(client: httpx.AsyncClient, url: str) -> str:
    match = CSRF_PATTERN.search((await client.get(url)).text)
    assert match, f"no CSRF field on {url}"
    return match.group(1)


async def log_in(client: httpx.AsyncClient, server: Server, email: str, password: str) -> int:
    url = f"{server.base_url}/boe/connexion"
    token = await csrf(client, url)
    form = {"email": email, "password": password, "_csrf_token": token}
    return (await client.post(url, data=form)).status_code


async def invoices_page(client: httpx.AsyncClient, server: Server) -> httpx.Response:
    return await client.get(f"{server.base_url}/boe/factures")


async def invoice_id(cluster: Cluster, number: str) -> int:
    return int(await cluster.value("SELECT id FROM invoice WHERE number = $1", number))


async def start_payment(client: httpx.AsyncClient, server: Server, invoice: int) -> str:
    """Press "Payer" for one invoice on `server`; the idop the browser is sent with."""
    token = await csrf(client, f"{server.base_url}/boe/paiement?facture={invoice}")
    response = await client.post(
        f"{server.base_url}/boe/paiement", data={"facture": str(invoice), "_csrf_token": token}
    )
    assert response.status_code == 303, response.text
    match = IDOP_PATTERN.search(response.headers["location"])
    assert match
    return match.group(1)


async def eventually(read: Callable[[], Awaitable[Any]], expected: Any, seconds: float) -> bool:
    """Whether `read()` gives `expected` within `seconds` (polled every 0.1 s)."""
    for _ in range(int(seconds * 10)):
        if await read() == expected:
            return True
        await asyncio.sleep(0.1)
    return False


# --- Sessions and rate limits: in the database every process reads -------------------------


async def test_a_session_is_valid_on_both_servers_and_logout_ends_it_on_both(
    cluster: Cluster,
) -> None:
    a, b = cluster.servers
    async with httpx.AsyncClient() as client:  # one browser: cookies go to both ports
        assert (await invoices_page(client, b)).status_code == 303  # not logged in yet
        assert await log_in(client, a, CLAIRE, PASSWORD) == 303
        page = await invoices_page(client, b)
        assert page.status_code == 200 and "SRV-1" in page.text
        stolen = client.cookies.get("portail_session")
        assert stolen
        token = await csrf(client, f"{b.base_url}/boe/factures")
        logout = await client.post(f"{b.base_url}/boe/deconnexion", data={"_csrf_token": token})
        assert logout.status_code == 303
    # The browser forgot its cookie; a copy kept elsewhere opens nothing, on either server.
    async with httpx.AsyncClient(cookies={"portail_session": stolen}) as elsewhere:
        for server in (a, b):
            assert (await invoices_page(elsewhere, server)).status_code == 303


async def test_the_login_rate_limit_counts_across_both_servers(cluster: Cluster) -> None:
    a, b = cluster.servers
    async with httpx.AsyncClient() as client:
        statuses = [
            await log_in(client, (a, b)[attempt % 2], JEAN, "pas le bon mot de passe")
            for attempt in range(11)
        ]
        # Ten failures, five on each server, use up the address's ten; the right password is
        # refused too until the window ends, on either server.
        assert statuses == [422] * 10 + [429]
        assert await log_in(client, a, JEAN, PASSWORD) == 429
        assert await log_in(client, b, JEAN, PASSWORD) == 429
    hits = await cluster.value(
        "SELECT hits FROM throttle WHERE bucket = $1", f"login-address:boe:{JEAN}"
    )
    assert hits == 13  # one row for the address, counted by both processes


# --- Payments: settled once, asked once -----------------------------------------------------


async def test_a_notification_on_one_and_the_return_on_the_other_settle_once(
    cluster: Cluster,
) -> None:
    a, b = cluster.servers
    invoice = await invoice_id(cluster, "SRV-2")
    async with httpx.AsyncClient() as client:
        assert await log_in(client, a, CLAIRE, PASSWORD) == 303
        idop = await start_payment(client, a, invoice)
        cluster.sim.state.set_result(idop, "P")  # paid at the service
        answers = await asyncio.gather(
            *(
                client.post(f"{server.base_url}/boe/payfip/notification", data={"idop": idop})
                for server in (a, b, a, b)
            ),
            *(
                client.get(f"{server.base_url}/boe/payfip/retour?idop={idop}")
                for server in (b, a, b)
            ),
        )
    assert [r.status_code for r in answers[:4]] == [200] * 4
    assert all(r.status_code == 303 for r in answers[4:])
    attempt = await cluster.fetch(
        "SELECT id, state FROM payment_attempt WHERE provider_reference = $1", idop
    )
    assert [row["state"] for row in attempt] == ["paid"]
    assert await cluster.value("SELECT status FROM invoice WHERE id = $1", invoice) == PAID
    settled = await cluster.value(
        "SELECT count(*) FROM payment_attempt_invoice WHERE attempt = $1 AND settled",
        attempt[0]["id"],
    )
    assert settled == 1
    receipts = "SELECT count(*) FROM outbound_email WHERE recipient = $1 AND subject LIKE 'Reçu%'"
    assert await cluster.value(receipts, CLAIRE) == 1


async def test_the_recheck_asks_once_per_due_attempt(cluster: Cluster) -> None:
    a, _ = cluster.servers
    idops = await pending_payments(cluster, a, "SRV-3", "SRV-4", "SRV-5")
    assert await questions_when_due(cluster, idops) == [1, 1, 1]


async def test_four_processes_elect_one_leader_too(cluster: Cluster) -> None:
    """Two more processes beside the two servers (as `--workers` would add): one re-check.

    Separate `portail serve` processes rather than `--workers 2`: on a machine as busy as the
    test machine, uvicorn's supervisor kills a worker that does not answer its 5-second
    health check while it starts, and starts another, over and over."""
    extra = [start_server(cluster.env, cluster.tmp, f"extra-{n}") for n in (1, 2)]
    try:
        for server in extra:
            wait_until_up(server)
        # Every process has tried the lock (each keeps its connection to try again).
        started = await eventually(lambda: cluster.value(CANDIDATES), 4, WORKERS_START_TIMEOUT)
        assert started, await cluster.value(CANDIDATES)
        assert len(await cluster.fetch(LEADER)) == 1
        idops = await pending_payments(cluster, extra[0], "SRV-6", "SRV-7", "SRV-8")
        assert await questions_when_due(cluster, idops) == [1, 1, 1]
    finally:
        for server in extra:
            server.stop()  # a clean stop gives its connections back
    assert await eventually(lambda: cluster.value(CANDIDATES), 2, seconds=15)
    # If one of them led, one of the two servers leads now.
    leaders = f"SELECT count(*) FROM ({LEADER}) l"  # noqa: S608 (constants only)
    assert await eventually(lambda: cluster.value(leaders), 1, seconds=15)


async def pending_payments(cluster: Cluster, server: Server, *numbers: str) -> list[str]:
    """Payments started on `server` for these invoices, and not paid (PayFiP answers P5)."""
    async with httpx.AsyncClient() as client:
        assert await log_in(client, server, CLAIRE, PASSWORD) == 303
        return [await start_payment(client, server, await invoice_id(cluster, n)) for n in numbers]


async def questions_when_due(cluster: Cluster, idops: list[str]) -> list[int]:
    """Make the attempts due for their re-check; how many questions each one then brings."""
    operations = cluster.sim.state.operations
    before = [operations[idop].questions for idop in idops]

    def asked() -> list[int]:
        return [operations[i].questions - b for i, b in zip(idops, before, strict=True)]

    await cluster.fetch(
        "UPDATE payment_attempt SET next_check_at = now() - interval '1 second', "
        "last_checked_at = NULL WHERE provider_reference = ANY($1::text[])",
        idops,
    )
    # Every process looks every 0.3 s; after a P5 the next check is a minute away.
    for _ in range(100):
        if all(asked()):
            break
        await asyncio.sleep(0.1)
    # A second question would come within the minimum interval between two (see checks.py).
    await asyncio.sleep(MIN_SECONDS_BETWEEN_CHECKS + 1)
    return asked()


# --- The outbox: two senders ----------------------------------------------------------------


async def test_two_senders_deliver_each_message_exactly_once(cluster: Cluster) -> None:
    count = 200
    cluster.sink.clear()
    now = dt.datetime.now(dt.UTC)
    connection = await asyncpg.connect(cluster.database_url)
    try:
        await connection.executemany(
            "INSERT INTO outbound_email (commune, recipient, subject, body_text, body_html, "
            "status, attempts, created_at, next_attempt_at, last_error) "
            "VALUES (NULL, $1, $2, 'Bonjour', '', 'pending', 0, $3, $3, '')",
            [(f"parent{i}@servers.test", f"Message {i}", now) for i in range(count)],
        )
    finally:
        await connection.close()
    sent = "SELECT count(*) FROM outbound_email WHERE recipient LIKE 'parent%' AND status = 'sent'"
    assert await eventually(lambda: cluster.value(sent), count, seconds=60)
    await asyncio.sleep(1)  # a duplicate would arrive now
    received = [m for m in cluster.sink.messages if m.subject.startswith("Message ")]
    assert sorted(m.subject for m in received) == sorted(f"Message {i}" for i in range(count))


# --- The background work's leader (last: it kills a server) ---------------------------------


async def test_when_the_leader_dies_the_other_server_takes_over(cluster: Cluster) -> None:
    leaders = [row[0] for row in await cluster.fetch(LEADER)]
    pids = {str(server.process.pid): server for server in cluster.servers}
    assert len(leaders) == 1, leaders  # one process holds the lock
    leader_pid = leaders[0].rsplit(" ", 1)[-1]
    assert leader_pid in pids
    pids[leader_pid].process.send_signal(signal.SIGKILL)
    pids[leader_pid].process.wait()
    killed_at = time.monotonic()
    while time.monotonic() - killed_at < TAKEOVER_BOUND:
        leaders = [row[0] for row in await cluster.fetch(LEADER)]
        if leaders and leaders[0].rsplit(" ", 1)[-1] != leader_pid:
            break
        await asyncio.sleep(0.2)
    else:
        pytest.fail(f"no process took the background work over within {TAKEOVER_BOUND} s")
    took = time.monotonic() - killed_at
    (survivor,) = [s for pid, s in pids.items() if pid != leader_pid]
    assert leaders == [f"portail background pid {survivor.process.pid}"]
    print(f"background work taken over {took:.1f} s after the leader was killed")
