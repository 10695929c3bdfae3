"""A burst of logins: few writes per login, and no error from a real two-process server on its
SQLite file (issue 11, "Load": a burst of 200 parents gave "database is locked" 503 pages).

The writes of a login are counted through the engine (as `test_page_statements.py` counts
statements); the burst runs against `portail serve --workers 2` on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.db import current_engine
from e2e.seed import InvoiceRow
from tests.conftest import TEST_ENGINE
from tests.integration.conftest import GOOD_PASSWORD, Portal, add_payer
from tests.integration.processes import VENV_BIN, Database, ServerProcess, own_database
from tests.integration.processes import running as server_running

BURST_PARENTS = 120
BURST_SECONDS = 20
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


@contextlib.contextmanager
def counted_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """The write statements the engine runs inside the block, and the transactions opened
    (nested ones, which join their parent, not counted)."""
    engine = current_engine()
    seen: dict[str, list[str]] = {"writes": [], "transactions": []}
    run_querystring, transaction = engine.run_querystring, engine.transaction

    async def counting_run(query: Any, *args: Any, **kw: Any) -> Any:
        sql = str(query).lstrip()
        if not sql[:6].upper().startswith("SELECT"):
            seen["writes"].append(sql[:60])
        return await run_querystring(query, *args, **kw)

    def counting_transaction(*args: Any, **kw: Any) -> Any:
        if engine.current_transaction.get() is None:
            seen["transactions"].append("BEGIN")
        return transaction(*args, **kw)

    monkeypatch.setattr(engine, "run_querystring", counting_run)
    monkeypatch.setattr(engine, "transaction", counting_transaction)
    try:
        yield seen
    finally:
        monkeypatch.undo()


async def test_a_login_writes_five_lone_statements_and_no_transaction(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each write is one statement, atomic by itself: the three rate-limit counts in one
    upsert, the account's last login, the failures forgotten (two counters), the session. A
    transaction would hold SQLite's write lock across turns of the event loop."""
    await add_payer("boe", "B1", "Famille Martin", "claire@example.org")
    await portal.activate("boe", "claire@example.org", GOOD_PASSWORD)
    await portal.post_form("/boe/deconnexion", {}, form_page="/boe/")
    portal.client.cookies.clear()  # a browser new to the address: every limit counts

    with counted_writes(monkeypatch) as seen:
        response = await portal.login("boe", "claire@example.org", GOOD_PASSWORD)
    assert response.status_code == 303, response.text
    assert seen["transactions"] == []
    assert len(seen["writes"]) == 5, seen["writes"]
    assert sum("INSERT INTO throttle" in sql for sql in seen["writes"]) == 1


def seed_parents(server: ServerProcess, count: int) -> None:
    """`count` parents with one invoice and an active account each (e2e/seed.py)."""
    rows = [
        InvoiceRow(f"L{n}", f"Famille L{n}", f"l{n}@example.org", "CANT", f"L-{n}", 1000, "Cantine")
        for n in range(count)
    ]
    server.seed(rows, GOOD_PASSWORD)


async def log_in_list_log_out(client: httpx.AsyncClient, n: int) -> list[int]:
    """The statuses of the login, the list and the logout (as far as they went)."""
    statuses: list[int] = []
    form = {"email": f"l{n}@example.org", "password": GOOD_PASSWORD}
    for method, path in (("POST", "connexion"), ("GET", "factures"), ("POST", "deconnexion")):
        if method == "POST":
            page = await client.get("/boe/connexion" if path == "connexion" else "/boe/")
            token = CSRF_FIELD.search(page.text)
            if token is None:
                return [*statuses, page.status_code]
            fields = form if path == "connexion" else {}
            answer = await client.post(f"/boe/{path}", data={**fields, "_csrf_token": token[1]})
        else:
            answer = await client.get(f"/boe/{path}")
        statuses.append(answer.status_code)
        if answer.status_code not in (200, 303):
            break
    return statuses


async def parent(base_url: str, n: int, start: asyncio.Event, until: list[float]) -> list[str]:
    """Parent `n`, from an address of its own, logs in, lists its invoices and logs out, again
    and again without a pause until `until[0]`; what went wrong (nothing, hopefully)."""
    headers = {"x-forwarded-for": f"10.1.{n // 250}.{1 + n % 250}"}
    problems: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as client:
        await start.wait()
        while time.monotonic() < until[0]:
            answers = await log_in_list_log_out(client, n)
            if answers != [303, 200, 303]:
                problems.append(f"parent {n}: {answers}")
                client.cookies.clear()
    return problems


@pytest.mark.skipif(TEST_ENGINE != "sqlite", reason="SQLite's one writer at a time")
async def test_a_burst_of_logins_on_two_processes_gets_no_error(tmp_path: Path) -> None:
    """`BURST_PARENTS` parents log in at once and keep logging in and out for `BURST_SECONDS`:
    before, writes queued past SQLite's busy timeout and some answers were the 503 page."""
    async with own_database(tmp_path) as url:
        server = ServerProcess(
            tmp_path, url, extra_env={"PORTAIL_TRUSTED_PROXY_HOPS": "1"}, workers=2
        )
        server.run(str(VENV_BIN / "portail"), "migrate")
        seed_parents(server, BURST_PARENTS)
        with server_running(server):
            start, until = asyncio.Event(), [0.0]
            parents = [
                asyncio.create_task(parent(server.base_url, n, start, until))
                for n in range(BURST_PARENTS)
            ]
            await asyncio.sleep(0.5)
            until[0] = time.monotonic() + BURST_SECONDS
            start.set()
            problems = [problem for found in await asyncio.gather(*parents) for problem in found]
        logged_in = await Database(url).value(
            "SELECT COUNT(*) FROM account WHERE last_login_at IS NOT NULL"
        )
    assert not problems, f"{len(problems)} failed: {problems[:5]}\n{server.warnings()}"
    assert logged_in == BURST_PARENTS
