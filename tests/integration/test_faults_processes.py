"""Faults of whole processes, on loopback, each bounded in time: the server killed with SIGKILL
during an import and during settlements (after a restart, all or nothing of each), and
PostgreSQL restarted under load (a private cluster: the shared server is never touched)."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from core.backoffice.api_keys import KEY_PREFIX, PREFIX_LENGTH
from core.security.tokens import digest
from tests.integration.processes import Database, ServerProcess, own_database, running

API_KEY = KEY_PREFIX + "une-cle-de-test-pour-les-pannes-0123456789"
IMPORT_LINES = 20_000
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
        "INSERT INTO api_key (commune, label, key_hash, prefix, created_at) VALUES "
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
