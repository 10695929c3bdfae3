"""Faults of whole processes, on loopback, each bounded in time: the server killed with SIGKILL
during an import and during settlements (after a restart, all or nothing of each), and
PostgreSQL restarted under load (a private cluster: the shared server is never touched)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from core.app import _database_down
from core.backoffice.api_keys import KEY_PREFIX, PREFIX_LENGTH
from core.security.tokens import digest
from e2e.seed import InvoiceRow
from simulators.payfip import running_simulator
from tests.integration.processes import (
    VENV_BIN,
    Database,
    ServerProcess,
    own_database,
    private_cluster,
    running,
)

API_KEY = KEY_PREFIX + "une-cle-de-test-pour-les-pannes-0123456789"
# Long enough that the write transaction is still running 0.3 s after "publishing" on a quiet
# machine: 20,000 lines were once all written by then (the test then kills too late).
IMPORT_LINES = 80_000
HEADER = (
    "reference_debiteur;nom_debiteur;emails;regie;numero_facture;reference_paiement;objet;"
    "date_emission;date_echeance;montant;montant_regle;statut;date_reglement;mode_reglement;"
    "numero_autorisation;prelevement;date_prelevement"
)


def big_export(lines: int) -> bytes:
    rows = [
        f"K{n // 4};Famille K{n // 4};k{n // 4}@example.org;CANT;K-{n:06d};;Cantine;"
        f"05/02/2026;28/02/2026;{10 + n % 90},{n % 100:02d};;à régler;;;;non;"
        for n in range(lines)
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def post_in_background(url: str, body: bytes) -> threading.Thread:
    """POST the import from a thread: the server dies under it, so no answer is awaited."""

    def send() -> None:
        request = urllib.request.Request(  # noqa: S310 - loopback http
            url,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "text/csv"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60):  # noqa: S310
                pass
        except (urllib.error.URLError, OSError):
            pass  # killed under it

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


async def add_api_key(database: Database) -> None:
    commune = await database.value("SELECT id FROM commune WHERE slug = 'boe'")
    await database.execute(
        "INSERT INTO api_key (commune, label, key_hash, prefix, created_at) VALUES "  # noqa: S608
        f"({commune}, 'Pannes', '{digest(API_KEY)}', '{API_KEY[:PREFIX_LENGTH]}', "
        "CURRENT_TIMESTAMP)"
    )


async def wait_until(database: Database, sql: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await database.value(sql):
            return True
        await asyncio.sleep(0.02)
    return False


async def test_sigkill_during_an_import_writes_all_or_nothing(tmp_path: Path) -> None:
    async with own_database(tmp_path) as url:
        database = Database(url)
        server = ServerProcess(tmp_path, url)
        with running(server):
            await add_api_key(database)
            invoices_before = await database.value("SELECT COUNT(*) FROM invoice")
            thread = post_in_background(
                f"{server.base_url}/boe/api/imports", big_export(IMPORT_LINES)
            )
            publishing = "SELECT COUNT(*) FROM import_job WHERE status = 'publishing'"
            assert await wait_until(database, publishing, 60), server.log()
            await asyncio.sleep(0.3)  # inside the write transaction
            server.kill()
            thread.join(timeout=10)
            written = await database.value("SELECT COUNT(*) FROM invoice") - invoices_before
            assert written in (0, IMPORT_LINES)
            assert written == 0, "the import ended before the kill: make the file longer"

            # Restarted: the interrupted job is failed, nothing half-written; sending again works.
            server.start()
            job = await database.fetch("SELECT status, error FROM import_job")
            assert [row["status"] for row in job] == ["failed"] and job[0]["error"]
            assert await database.value("SELECT COUNT(*) FROM invoice") == invoices_before
            thread = post_in_background(
                f"{server.base_url}/boe/api/imports", big_export(IMPORT_LINES)
            )
            thread.join(timeout=120)
            done = "SELECT COUNT(*) FROM import_job WHERE status = 'published'"
            assert await wait_until(database, done, 5), server.log()
            total = await database.value("SELECT COUNT(*) FROM invoice")
            assert total == invoices_before + IMPORT_LINES


# --- SIGKILL during settlements -------------------------------------------------------------

PAYERS = 12
PASSWORD = "une phrase de passe pour les pannes"
IDOP_IN_LOCATION = re.compile(r"[?&]idop=([0-9a-f-]{36})")
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


def seed_payers(server: ServerProcess) -> None:
    """`PAYERS` parents with two invoices each and an active account (e2e/seed.py)."""
    rows = [
        InvoiceRow(
            f"S{n}", f"Famille S{n}", f"s{n}@example.org", "CANT", f"S-{n}-{k}", 1000 + k, "Cantine"
        )
        for n in range(PAYERS)
        for k in range(2)
    ]
    server.seed(rows, PASSWORD)


async def log_in(client: httpx.AsyncClient, n: int) -> None:
    page = await client.get("/boe/connexion")
    token = CSRF_FIELD.search(page.text)
    assert token
    form = {"email": f"s{n}@example.org", "password": PASSWORD, "_csrf_token": token.group(1)}
    assert (await client.post("/boe/connexion", data=form)).status_code == 303


async def start_payment(base_url: str, n: int) -> str:
    """Parent `n` logs in and starts paying both its invoices; the idop it is sent with."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await log_in(client, n)
        listing = await client.get("/boe/factures")
        ids = sorted(set(re.findall(r'href="/boe/factures/(\d+)"', listing.text)))
        summary = await client.get("/boe/paiement?" + "&".join(f"facture={i}" for i in ids))
        token = CSRF_FIELD.search(summary.text)
        assert token, summary.text
        start = await client.post(
            "/boe/paiement", data={"facture": ids, "_csrf_token": token.group(1)}
        )
        idop = IDOP_IN_LOCATION.search(start.headers.get("location", ""))
        assert idop, (start.status_code, start.text[:300])
        return idop.group(1)


async def settlement_problems(database: Database) -> list[str]:
    """Each attempt all or nothing: "paid" with every invoice settled, or else none settled."""
    links = await database.fetch(
        "SELECT a.id, a.state, i.status, i.paid_cents, i.amount_cents FROM payment_attempt a "
        "JOIN payment_attempt_invoice l ON l.attempt = a.id JOIN invoice i ON i.id = l.invoice"
    )
    problems = []
    for link in links:
        settled = link["status"] == "reglee" and link["paid_cents"] == link["amount_cents"]
        untouched = link["status"] == "a_regler" and link["paid_cents"] == 0
        if (link["state"] == "paid" and not settled) or (link["state"] != "paid" and not untouched):
            problems.append(f"attempt {link['id']} ({link['state']}): invoice {link}")
    return problems


async def test_sigkill_during_settlements_leaves_each_all_or_nothing(tmp_path: Path) -> None:
    async with own_database(tmp_path) as url, running_simulator() as simulator:
        database = Database(url)
        server = ServerProcess(
            tmp_path, url, simulator.base_url, {"PORTAIL_PAYMENT_RECHECK_INTERVAL": "0.5"}
        )
        server.run(str(VENV_BIN / "portail"), "migrate")
        seed_payers(server)
        with running(server):
            idops = [await start_payment(server.base_url, n) for n in range(PAYERS)]
            # Every parent pays at once; the service notifies the portal; the server dies.
            payments = [asyncio.create_task(simulator.state.complete(i, "P")) for i in idops]
            await asyncio.sleep(0.15)
            server.kill()
            await asyncio.gather(*payments, return_exceptions=True)
            assert await settlement_problems(database) == []
            settled = await database.value(
                "SELECT COUNT(*) FROM payment_attempt WHERE state = 'paid'"
            )
            assert settled < PAYERS, "every settlement ended before the kill: kill sooner"

            # Restarted, the background re-check settles the rest, each exactly once.
            server.start()
            await database.execute(
                "UPDATE payment_attempt SET next_check_at = CURRENT_TIMESTAMP, "
                "last_checked_at = NULL"
            )
            paid = f"SELECT COUNT(*) = {PAYERS} FROM payment_attempt WHERE state = 'paid'"  # noqa: S608
            assert await wait_until(database, paid, 60), server.log()
            assert await settlement_problems(database) == []
            twice = await database.value(
                "SELECT COUNT(*) FROM (SELECT l.invoice FROM payment_attempt_invoice l "
                "JOIN payment_attempt a ON a.id = l.attempt WHERE a.state = 'paid' "
                "GROUP BY l.invoice HAVING COUNT(*) > 1) doubled"
            )
            assert twice == 0


# --- PostgreSQL restarted under load --------------------------------------------------------

LOAD_CLIENTS = 6
OUTAGE_SECONDS = 2.0


@dataclass
class Heard:
    at: float
    status: int
    french: bool
    error: str = ""  # what httpx raised when no answer came (status 0)


async def keep_asking(client: httpx.AsyncClient, until: float, heard: list[Heard]) -> None:
    while time.monotonic() < until:
        try:
            response = await client.get("/boe/factures")
            french = "momentanément indisponible" in response.text
            heard.append(Heard(time.monotonic(), response.status_code, french))
        except httpx.HTTPError as error:
            heard.append(Heard(time.monotonic(), 0, False, repr(error)))
        await asyncio.sleep(0.02)


@pytest.mark.postgres
async def test_postgresql_restarted_under_load(tmp_path: Path) -> None:
    with private_cluster() as cluster:
        server = ServerProcess(tmp_path, cluster.url)
        server.run(str(VENV_BIN / "portail"), "migrate")
        seed_payers(server)
        with running(server):
            clients = [
                httpx.AsyncClient(base_url=server.base_url, timeout=30) for _ in range(LOAD_CLIENTS)
            ]
            for n, client in enumerate(clients):
                await log_in(client, n)
            heard: list[Heard] = []
            begin = time.monotonic()
            load = [
                asyncio.create_task(keep_asking(client, begin + 4 + OUTAGE_SECONDS + 6, heard))
                for client in clients
            ]
            await asyncio.sleep(2)
            down_at = time.monotonic()
            await asyncio.to_thread(cluster.stop)
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(cluster.start)
            up_at = time.monotonic()
            await asyncio.gather(*load)
            for client in clients:
                await client.aclose()
            assert server.process is not None and server.process.poll() is None  # never restarted

        before = [h for h in heard if h.at < down_at]
        during = [h for h in heard if down_at <= h.at <= up_at + 1]
        after = [h for h in heard if h.at > up_at + 1]
        assert before and all(h.status == 200 for h in before)
        # Errors only during the outage, and then the French page (503), never a 500.
        assert any(h.status == 503 for h in during), "the outage was not seen"
        odd = [h for h in during if not (h.status == 200 or (h.status == 503 and h.french))]
        assert not odd, (odd, server.warnings())
        # Back without restarting the app: the pool reconnects.
        assert after and all(h.status == 200 for h in after[-LOAD_CLIENTS * 5 :])
        assert all(h.status in (200, 503) for h in after)


def test_a_connection_cut_by_a_restart_counts_as_the_database_down() -> None:
    """What asyncpg raised for pooled connections cut by the restart above: it answered 500."""
    cut = asyncpg.exceptions.InternalClientError("cannot switch to state 15; another operation")
    assert _database_down(cut)
    assert not _database_down(ValueError("a bug"))
