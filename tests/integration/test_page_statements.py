"""SQL statements per parents' page, counted through the engine: few, and as many with 3
invoices as with 45 (of the parent's on other tabs, or of other payers in the database).

Every statement Piccolo runs, raw SQL included, goes through `Engine.run_querystring` (or
`run_ddl`); the test wraps both on the process's engine while one page is served.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from core import db
from core.accounts import devices
from core.db import current_engine
from core.invoices.tables import PAID, TREASURY
from core.security import passwords
from tests.integration.conftest import GOOD_PASSWORD, Portal, add_invoice, add_payer, sign_in

# On PostgreSQL, one statement a page: the session and its account open it; then, for the
# list, the tab counts with the sum due and the page's rows with the online payments that hold
# them; for the detail, the invoice with its holds and whether online payment is suspended
# (read on each request: an agent's suspension shows at once). On SQLite the session comes
# first, in a statement of its own (`list_invoices_signed_in` says why). The PDF reads as
# the detail does.
MAX_LIST_STATEMENTS = {"postgres": 1, "sqlite": 2}
MAX_DETAIL_STATEMENTS = {"postgres": 1, "sqlite": 2}


@contextlib.contextmanager
def counted_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL of every statement the engine runs inside the block."""
    engine = current_engine()
    statements: list[str] = []
    for name in ("run_querystring", "run_ddl"):
        original = getattr(engine, name)

        async def counting(query: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
            statements.append(str(query))
            return await _original(query, *args, **kw)

        monkeypatch.setattr(engine, name, counting)
    try:
        yield statements
    finally:
        monkeypatch.undo()


PAGES = {
    "à régler": ("/boe/factures", {}),
    "à régler, fragment": (
        "/boe/factures",
        {"hx-request": "true", "hx-target": "invoice-list"},
    ),
    "réglées": ("/boe/factures/reglees", {}),
    "trésorerie": ("/boe/factures/tresorerie", {}),
}


async def statements_per_page(
    portal: Portal, monkeypatch: pytest.MonkeyPatch, detail_id: int
) -> dict[str, int]:
    counts: dict[str, int] = {}
    pages = {
        **PAGES,
        "détail": (f"/boe/factures/{detail_id}", {}),
        "détail, fragment": (
            f"/boe/factures/{detail_id}",
            {"hx-request": "true", "hx-target": "invoice-detail"},
        ),
        "détail, PDF": (f"/boe/factures/{detail_id}/pdf", {}),
    }
    for name, (path, headers) in pages.items():
        with counted_statements(monkeypatch) as statements:
            response = await portal.client.get(path, headers=headers)
        assert response.status_code == 200, (name, response.text)
        counts[name] = len(statements)
    return counts


async def test_statements_per_page_are_few_and_do_not_grow_with_invoices(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    payer = await sign_in(portal)
    first = [await add_invoice("boe", payer) for _ in range(3)]
    await add_invoice("boe", payer, status=PAID, paid=24311)
    await add_invoice("boe", payer, status=TREASURY)
    small = await statements_per_page(portal, monkeypatch, first[0])

    for name, count in small.items():
        engine = "postgres" if db.statements_are_round_trips() else "sqlite"
        limits = MAX_DETAIL_STATEMENTS if name.startswith("détail") else MAX_LIST_STATEMENTS
        limit = limits[engine]
        assert 0 < count <= limit, (name, count, small)

    # More of the parent's invoices on every tab (more than a page of them), and other payers'.
    for _ in range(25):
        await add_invoice("boe", payer)
        await add_invoice("boe", payer, status=PAID, paid=24311)
        await add_invoice("boe", payer, status=TREASURY)
    for ref in range(5):
        other = await add_payer("boe", f"X{ref}", f"Famille X{ref}", f"x{ref}@example.org")
        for _ in range(10):
            await add_invoice("boe", other)
    assert await statements_per_page(portal, monkeypatch, first[0]) == small


@pytest.mark.postgres
async def test_a_page_borrows_one_postgresql_connection(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its statements share one pooled connection: one reset, not one after each statement."""
    payer = await sign_in(portal)
    invoice = await add_invoice("boe", payer)
    pool_type = type(current_engine().pool)  # type: ignore[attr-defined]
    acquire = pool_type.acquire
    borrowed: list[object] = []

    def counting_acquire(self: Any, *args: Any, **kwargs: Any) -> Any:
        borrowed.append(self)
        return acquire(self, *args, **kwargs)

    counts = {}
    for path in ("/boe/factures", f"/boe/factures/{invoice}", "/boe/"):
        borrowed.clear()
        with counted_statements(monkeypatch) as statements, pytest.MonkeyPatch.context() as mp:
            mp.setattr(pool_type, "acquire", counting_acquire)
            response = await portal.client.get(path)
        assert response.status_code == 200
        assert len(borrowed) == 1, (path, len(borrowed), len(statements))
        counts[path] = len(statements)
    assert counts["/boe/"] > 1, counts  # the home page: the session, then its news


@pytest.mark.postgres
async def test_a_connection_comes_back_usable_without_a_reset_round_trip(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given back to the pool, a request's connection runs no `RESET ALL` statement
    (`core.db.keep_session`), and the next borrower gets it working, outside any transaction."""
    payer = await sign_in(portal)
    invoice = await add_invoice("boe", payer)
    executed: list[str] = []
    execute = asyncpg.connection.Connection.execute

    async def recording(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        executed.append(query)
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", recording)
    for path in ("/boe/factures", f"/boe/factures/{invoice}", "/boe/factures"):
        response = await portal.client.get(path)
        assert response.status_code == 200, response.text
    assert not [q for q in executed if "RESET" in q.upper() or "UNLISTEN" in q.upper()]
    pool = current_engine().pool  # type: ignore[attr-defined]
    connections = [await pool.acquire(timeout=5) for _ in range(pool.get_idle_size())]
    try:
        for connection in connections:
            assert await connection.fetchval("SELECT 1") == 1
            assert not connection.is_in_transaction()
    finally:
        for connection in connections:
            await pool.release(connection)


@pytest.mark.postgres
async def test_a_request_waiting_for_a_password_hash_holds_no_connection(portal: Portal) -> None:
    """A login queued behind other hashes gives its connection (and its place at the request
    gate) back while it waits, and borrows again at its next statement: twenty logins at once
    would otherwise hold the pool's ten connections and leave the pages none."""
    engine = current_engine()
    pool, gate = engine.pool, engine.request_gate()  # type: ignore[attr-defined]
    places = gate._value
    async with db.request_scope():
        await db.quick_read("SELECT 1 AS one")
        idle = pool.get_idle_size()
        assert gate._value == places - 1
        stored = await passwords.hash_password("cheval-agrafe-pile-correct")
        assert pool.get_idle_size() == idle + 1
        assert gate._value == places
        assert (await db.quick_read("SELECT 2 AS two"))[0]["two"] == 2
        assert gate._value == places - 1
        async with db.transaction():  # inside a transaction its connection stays
            await db.quick_read("SELECT 3 AS three")
            in_transaction = pool.get_idle_size()
            assert await passwords.verify_password(stored, "cheval-agrafe-pile-correct")
            assert pool.get_idle_size() == in_transaction
    assert gate._value == places


# The login's statements: the attempt counted (one upsert for its three limits); the account
# with the header's name; the login's time (and a rehashed password); the failures forgotten
# and given back; the session.
MAX_LOGIN_STATEMENTS = 6


async def test_a_login_runs_few_statements(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    await sign_in(portal)
    # A new browser: no session to end, not a known device of the address (its failures count).
    portal.client.cookies.delete("portail_session")
    portal.client.cookies.delete(devices.COOKIE_NAME)
    token = await portal.csrf("/boe/connexion")
    form = {"email": "claire@example.org", "password": GOOD_PASSWORD, "_csrf_token": token}
    with counted_statements(monkeypatch) as statements:
        response = await portal.client.post("/boe/connexion", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert 0 < len(statements) <= MAX_LOGIN_STATEMENTS, statements
    home = await portal.client.get("/boe/")
    assert "Famille P1" in home.text
