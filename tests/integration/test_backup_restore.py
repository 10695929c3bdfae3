"""A backup is only as good as its restore: `pg_dump` of a seeded portal, `pg_restore` into an
empty database, and the portal serves the same data from the copy.

The commands are those of docs/deployment.md ("Backups and restore").
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from core.demo import DEMO_CONFIG
from core.demo_accounts import DEMO_PASSWORD
from tests.integration.portail_process import (
    command_env,
    free_port,
    log_in,
    postgres_database,
    run_command,
    serving,
)

pytestmark = pytest.mark.postgres

PORTAIL = [sys.executable, "-m", "core.cli"]
INVOICE_NUMBER = re.compile(r"\b[A-Z]+-\d{4}-\d{4,5}\b")


async def _row_counts(database_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(database_url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        return {
            t["tablename"]: await connection.fetchval(f'SELECT count(*) FROM "{t["tablename"]}"')  # noqa: S608 (names from the catalogue)
            for t in tables
        }
    finally:
        await connection.close()


def _invoice_numbers_seen_by_claire(env: dict[str, str], cwd: Path) -> set[str]:
    port = free_port()
    env = {**env, "PORTAIL_BASE_URL": f"http://127.0.0.1:{port}"}
    serve = [*PORTAIL, "serve", "--port", str(port)]
    with serving(serve, env, cwd, port) as base_url, httpx.Client(base_url=base_url) as web:
        log_in(web, "boe", "claire.martin@example.org", DEMO_PASSWORD)
        numbers = set()
        for tab in ("factures", "factures/reglees", "factures/tresorerie"):
            page = web.get(f"/boe/{tab}")
            assert page.status_code == 200
            numbers |= set(INVOICE_NUMBER.findall(page.text))
    return numbers


def test_a_pg_dump_restored_into_an_empty_database_serves_the_same_portal(tmp_path: Path) -> None:
    dump = tmp_path / "portail.dump"
    with postgres_database("original") as original, postgres_database("restored") as restored:
        settings = {
            "PORTAIL_CONFIG": str(DEMO_CONFIG),
            "PORTAIL_SECRET_KEY": "backup-test-secret-of-at-least-32-characters",
            "PORTAIL_DATA_DIR": str(tmp_path / "data"),
            "PORTAIL_OUTBOX_SENDER": "0",
        }
        from_original = command_env(DATABASE_URL=original, **settings)
        from_restored = command_env(DATABASE_URL=restored, **settings)
        run_command([*PORTAIL, "seed-demo"], from_original, tmp_path)

        run_command(
            ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", original],
            command_env(),
            tmp_path,
        )
        run_command(
            ["pg_restore", "--no-owner", "--single-transaction", "--exit-on-error",
             f"--dbname={restored}", str(dump)],
            command_env(),
            tmp_path,
        )  # fmt: skip

        counts = asyncio.run(_row_counts(original))
        assert counts["invoice"] > 0
        assert counts["account"] > 0
        assert asyncio.run(_row_counts(restored)) == counts
        # Nothing left to migrate, and new rows get fresh ids (sequences came with the data).
        assert "Migrations applied." in run_command([*PORTAIL, "migrate"], from_restored, tmp_path)
        news = [*PORTAIL, "news", "add", "--commune", "boe", "--title", "Après", "--body", "…"]
        run_command(news, from_restored, tmp_path)
        assert asyncio.run(_row_counts(restored))["announcement"] == counts["announcement"] + 1

        seen_on_restored = _invoice_numbers_seen_by_claire(from_restored, tmp_path)
        assert seen_on_restored
        assert seen_on_restored == _invoice_numbers_seen_by_claire(from_original, tmp_path)
