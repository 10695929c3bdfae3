"""The security walk of the back office: every route under `/{slug}/gestion`, found at run time
in the app's route table (so a route added later is covered without anyone listing it), asked
by a visitor without a session, by each role of Boé, by agents of Aure, and without a CSRF
token. Boé's seeded data carries the marker `zqboe`, which no answer to Aure may contain.

Path parameters are filled from their names: `slug` is the commune, an int parameter whose name
is in `ID_SOURCES` gets the id of a real object of Boé seeded here (else 1), a str gets "x".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from piccolo.conf.apps import Finder

from core.accounts.tables import Account, AccountPayer
from core.announcements.tables import Announcement
from core.app import CSRF_HEADER
from core.backoffice import journal
from core.backoffice.agents import create_agent
from core.backoffice.journal import Actor
from core.backoffice.roles import can
from core.backoffice.tables import (
    ADMINISTRATEUR,
    GESTIONNAIRE,
    LECTEUR,
    SUPERVISEUR,
    ApiKey,
    ImportJob,
    JournalEntry,
    PaymentSuspension,
)
from core.backoffice.web.access import agent_guard
from core.communes.tables import Regie
from core.contact.tables import ContactMessage
from core.db import transaction
from core.payments.tables import DECLARED, PaymentAttempt, PaymentAttemptInvoice
from core.security.tables import Throttle
from plugins.paper_optout.tables import PaperPreference
from tests.integration.backoffice.web import app_mailer, commune_of, signed_in_agent
from tests.integration.conftest import CSRF_PATTERN, Portal, add_invoice, add_payer

MARKER = "zqboe"
"""In every text seeded for Boé (payer, invoice, agent, message...): never in Aure's answers."""

ROLES = (LECTEUR, GESTIONNAIRE, ADMINISTRATEUR, SUPERVISEUR)
AURE_ROLES = (GESTIONNAIRE, ADMINISTRATEUR)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PARAMETER = re.compile(r"\{(\w+):(\w+)\}")
SIGN_IN_STEPS = ("/gestion/connexion", "/gestion/verification", "/gestion/double-authentification")

# An int path parameter's name -> the seeded object whose id fills it (anything else: 1).
ID_SOURCES: dict[str, str] = {
    "job_id": "import_job",
    "import_id": "import_job",
    "attempt_id": "attempt",
    "payment_id": "attempt",
    "payer_id": "payer",
    "family_id": "payer",
    "message_id": "message",
    "contact_id": "message",
    "thread_id": "message",
    "agent_id": "agent",
    "news_id": "news",
    "announcement_id": "news",
    "invoice_id": "invoice",
    "account_id": "account",
    "key_id": "api_key",
    "api_key_id": "api_key",
    "suspension_id": "suspension",
    "entry_id": "journal",
    "journal_id": "journal",
    "regie_id": "regie",
}
FALLBACK_ID = 1


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One method of one back-office route, and what the walk needs to know about it."""

    method: str
    path: str  # the route's template, e.g. /{slug:str}/gestion/agents/{agent_id:int}
    permission: str | None  # None: a sign-in step, open to anyone
    guessed_id: bool  # an int parameter got the fallback id (its object may not exist)
    plugin: str | None = None  # its plugin (`commune_with`), kept only if Boé runs it off

    def url(self, slug: str, ids: dict[str, int]) -> str:
        def fill(match: re.Match[str]) -> str:
            name, kind = match.groups()
            if name == "slug":
                return slug
            if kind == "int":
                return str(ids.get(ID_SOURCES.get(name, ""), FALLBACK_ID))
            return "x"

        url = PARAMETER.sub(fill, self.path)
        # The back office's root is `/<slug>/gestion/`, where its cookie's path begins.
        return url + "/" if url.endswith("/gestion") else url


def backoffice_endpoints(app: Litestar) -> list[Endpoint]:
    """Every method of every route under `/{slug:str}/gestion`, as the app has them now."""
    found = []
    for route in app.routes:
        if not route.path.startswith("/{slug:str}/gestion"):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                guarded = agent_guard in handler.resolve_guards()
                guessed = any(
                    kind == "int" and name not in ID_SOURCES
                    for name, kind in PARAMETER.findall(route.path)
                )
                permission = handler.opt.get("permission")
                # A permission without the guard would be checked by nobody: fail loudly.
                assert guarded or not permission, f"{route.path} names a permission, no guard"
                plugin = route_plugin(handler)
                found.append(Endpoint(method, route.path, permission, guessed, plugin))
    return found


def route_plugin(handler: Any) -> str | None:
    """The plugin whose `commune_with(name)` gives the route its commune, if any."""
    provider = handler.resolve_dependencies().get("commune")
    function = getattr(provider, "dependency", None)
    if function is None or not callable(function):
        return None
    name = inspect.getclosurevars(function).nonlocals.get("plugin_name")
    return name if isinstance(name, str) else None


# --- The seed -----------------------------------------------------------------------------


async def seed_boe(portal: Portal) -> dict[str, int]:
    """One object of each kind in Boé, every text carrying `MARKER`; their ids by kind."""
    boe = commune_of(portal, "boe")
    moment = dt.datetime.now(dt.UTC)
    ids: dict[str, int] = {}
    ids["payer"] = await add_payer("boe", "ZQBOE-P1", f"Famille {MARKER}", f"parent.{MARKER}@x.org")
    ids["invoice"] = await add_invoice("boe", ids["payer"], f"{MARKER.upper()}-0001")
    regie = await Regie.select(Regie.id).where(Regie.commune == boe.id).first()
    assert regie is not None
    ids["regie"] = regie["id"]
    target = await create_agent(
        boe, f"cible.{MARKER}@boe.test", LECTEUR, f"Agent {MARKER}", app_mailer(portal),
        Actor.command_line(),
    )  # fmt: skip
    ids["agent"] = target.id
    async with transaction():
        ids["account"] = await _insert(
            Account(commune=boe.id, email=f"parent.{MARKER}@x.org", created_at=moment),
            Account,
        )
        await AccountPayer.insert(AccountPayer(account=ids["account"], payer=ids["payer"]))
        ids["message"] = await _insert(
            ContactMessage(
                commune=boe.id,
                account=ids["account"],
                name=f"Parent {MARKER}",
                email=f"parent.{MARKER}@x.org",
                body=f"Message {MARKER} au service",
                created_at=moment,
            ),
            ContactMessage,
        )
        ids["news"] = await _insert(
            Announcement(
                commune=boe.id,
                title=f"Actualité {MARKER}",
                body=f"Texte {MARKER}",
                published_at=moment,
                updated_at=moment,
            ),
            Announcement,
        )
        ids["attempt"] = await _insert(
            PaymentAttempt(
                commune=boe.id,
                account=ids["account"],
                regie=ids["regie"],
                provider="payfip",
                refdet=f"{MARKER.upper()}0001",
                numcli="004200",
                exer="2026",
                amount_cents=24311,
                email=f"parent.{MARKER}@x.org",
                state=DECLARED,
                created_at=moment,
                updated_at=moment,
            ),
            PaymentAttempt,
        )
        await PaymentAttemptInvoice.insert(
            PaymentAttemptInvoice(
                attempt=ids["attempt"], invoice=ids["invoice"], amount_cents=24311
            )
        )
        ids["api_key"] = await _insert(
            ApiKey(
                commune=boe.id,
                label=f"Logiciel {MARKER}",
                key_hash="0" * 64,
                prefix="zq",
                created_at=moment,
            ),
            ApiKey,
        )
        ids["suspension"] = await _insert(
            PaymentSuspension(
                commune=boe.id,
                regie=ids["regie"],
                message=f"Suspendu {MARKER}",
                suspended_at=moment,
            ),
            PaymentSuspension,
        )
        ids["import_job"] = await _insert(
            ImportJob(commune=boe.id, file_name=f"{MARKER}.csv", source="web", created_at=moment),
            ImportJob,
        )
        await PaperPreference.insert(
            PaperPreference(account=ids["account"], paper_optout=True, changed_at=moment)
        )
        await journal.record("walk.seed", Actor.command_line(), commune_id=boe.id, target=MARKER)
    entry = await JournalEntry.select(JournalEntry.id).where(JournalEntry.target == MARKER).first()
    assert entry is not None
    ids["journal"] = entry["id"]
    return ids


async def _insert(row: Any, table: Any) -> int:
    rows = await table.insert(row).returning(table.id)
    return int(rows[0]["id"])


# --- The clients --------------------------------------------------------------------------


@dataclasses.dataclass
class Walker:
    """A client of its own (its own cookies), signed in as `role` of `slug`, or anonymous."""

    name: str
    client: httpx.AsyncClient
    role: str | None = None
    csrf: str = ""


@pytest.fixture
async def walkers(portal: Portal) -> AsyncIterator[dict[str, Walker]]:
    app = portal.client._transport.app  # type: ignore[attr-defined]
    clients: list[httpx.AsyncClient] = []

    async def walker(name: str, slug: str | None, role: str | None) -> Walker:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portail.test"
        )
        clients.append(client)
        if slug is None or role is None:
            return Walker(name, client)
        own = dataclasses.replace(portal, client=client)
        await signed_in_agent(own, slug, f"{role}.{name}@{slug}.test", role)
        page = await client.get(f"/{slug}/gestion/", follow_redirects=False)
        assert page.status_code == 200, (name, page.status_code)
        token = CSRF_PATTERN.search(page.text)
        assert token, name
        return Walker(name, client, role, token.group(1))

    found = {"anonymous": await walker("anonymous", None, None)}
    for role in ROLES:
        found[role] = await walker(role, "boe", role)
    for role in AURE_ROLES:
        aure = await walker(f"aure-{role}", "aure", role)
        # Aure's session cookie, sent to Boé's back office too: only the server may refuse it.
        secret = aure.client.cookies.get("portail_gestion", path="/aure/gestion/")
        assert secret
        aure.client.cookies.set(
            "portail_gestion", secret, domain="portail.test", path="/boe/gestion/"
        )
        found[aure.name] = aure
    try:
        yield found
    finally:
        for client in clients:
            await client.aclose()


async def ask(walker: Walker, endpoint: Endpoint, url: str, *, csrf: bool = True) -> httpx.Response:
    if endpoint.method == "GET":
        return await walker.client.get(url, follow_redirects=False)
    if not (csrf and walker.csrf):
        return await walker.client.request(endpoint.method, url, follow_redirects=False)
    # The token as a form sends it, and as htmx does (a DELETE or PUT has no form).
    return await walker.client.request(
        endpoint.method,
        url,
        data={"_csrf_token": walker.csrf},
        headers={CSRF_HEADER: walker.csrf},
        follow_redirects=False,
    )


def goes_to_sign_in(response: httpx.Response) -> bool:
    location = response.headers.get("location", "")
    return response.is_redirect and location.endswith(SIGN_IN_STEPS)


async def row_counts() -> dict[str, int]:
    """Rows of every table of every Piccolo app (the back office's, the journal, the core's and
    the plugins'), but rate-limit windows, which a refused request may open."""
    tables = Finder().get_table_classes()
    return {table._meta.tablename: await table.count() for table in tables if table is not Throttle}


# --- The walk -----------------------------------------------------------------------------


async def test_the_back_office_route_walk(
    app: Litestar, portal: Portal, walkers: dict[str, Walker]
) -> None:
    ids = await seed_boe(portal)
    boe = commune_of(portal, "boe")
    # A plugin's section that Boé does not run is 404 for everyone there (checked as such).
    endpoints = [
        dataclasses.replace(e, plugin=None if boe.enabled(e.plugin) else e.plugin)
        if e.plugin
        else e
        for e in backoffice_endpoints(app)
    ]
    guarded = [e for e in endpoints if e.permission is not None]
    assert guarded, "no back-office route found: the walk would prove nothing"
    assert any(e.method in STATE_CHANGING for e in endpoints)
    problems: list[str] = []
    gets = [e for e in endpoints if e.method == "GET"]
    writes = [e for e in endpoints if e.method in STATE_CHANGING]

    # (a) Without a session: the login page (or 401/404), never data.
    anonymous = walkers["anonymous"]
    for endpoint in endpoints:
        url = endpoint.url("boe", ids)
        response = await ask(anonymous, endpoint, url)
        if MARKER in response.text.lower():
            problems.append(f"(a) {endpoint.method} {url}: Boé's data shown without a session")
        if response.status_code >= 500:
            problems.append(f"(a) {endpoint.method} {url}: {response.status_code}")
        if endpoint.permission is not None and not (
            goes_to_sign_in(response) or response.status_code in (401, 403, 404)
        ):
            problems.append(f"(a) {endpoint.method} {url}: {response.status_code} without session")

    # (e) No GET changes anything: rows counted before and after every GET of the walk.
    before = await row_counts()
    last = (
        await JournalEntry.select(JournalEntry.id)
        .order_by(JournalEntry.id, ascending=False)
        .first()
    )
    last_entry = last["id"] if last else 0
    for endpoint in (e for e in gets if e.permission is not None):
        for role in ROLES:
            problems += await check_role(walkers[role], endpoint, ids)
    for role in AURE_ROLES:
        for endpoint in gets:
            problems += await check_other_commune(walkers[f"aure-{role}"], endpoint, ids)
    after = await row_counts()
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    # Taking personal data out is itself journalled: the only rows a GET may add are the journal
    # entries of exports.
    written = await JournalEntry.select(JournalEntry.action).where(JournalEntry.id > last_entry)
    if "journal_entry" in changed and all(row["action"].endswith(".export") for row in written):
        del changed["journal_entry"]
    if changed:
        problems.append(f"(e) GET requests changed rows: {changed}")

    # (d) Every state-changing route refuses a request without a CSRF token (signed-in or not).
    for endpoint in writes:
        url = endpoint.url("boe", ids)
        for walker in (walkers[SUPERVISEUR], anonymous):
            response = await ask(walker, endpoint, url, csrf=False)
            if response.status_code != 403:
                problems.append(f"(d) {endpoint.method} {url}: {response.status_code} without CSRF")

    # (c) then (b) for writes: Aure's agents first (nothing of Boé may change for them), then
    # Boé's roles, the least privileged first, the superviseur last.
    for role in AURE_ROLES:
        for endpoint in writes:
            problems += await check_other_commune(walkers[f"aure-{role}"], endpoint, ids)
    for endpoint in (e for e in writes if e.permission is not None):
        for role in ROLES:
            problems += await check_role(walkers[role], endpoint, ids)

    assert not problems, "\n".join(problems)


async def check_role(walker: Walker, endpoint: Endpoint, ids: dict[str, int]) -> list[str]:
    """(b) An agent of Boé: 403 exactly when the role lacks the route's permission, else an
    answer (2xx, 3xx but to a sign-in step, 422; 404 for a guessed id, or a write whose object
    an earlier role's write may have deleted). Writes are sent with an empty form and a valid
    token: a route that ends the agent's own session would show here as a sign-in redirect."""
    assert endpoint.permission is not None and walker.role is not None
    url = endpoint.url("boe", ids)
    response = await ask(walker, endpoint, url)
    status = response.status_code
    label = f"(b) {walker.role}: {endpoint.method} {url} ({endpoint.permission}) -> {status}"
    if endpoint.plugin is not None:  # the plugin is off in Boé
        return [] if status == 404 else [label + ", expected 404 (plugin off)"]
    allowed = can(_Role(walker.role), endpoint.permission)
    if not allowed:
        return [] if status == 403 else [label + ", expected 403"]
    if status == 403:
        return [label + ", the role holds the permission"]
    if goes_to_sign_in(response):
        return [label + f", sent to {response.headers['location']}"]
    if 200 <= status < 400 or status == 422 or (status == 404 and endpoint.guessed_id):
        return []
    if status == 404 and endpoint.method in STATE_CHANGING:
        return []  # the object may be gone: an earlier role's request deleted it
    return [label]


async def check_other_commune(walker: Walker, endpoint: Endpoint, ids: dict[str, int]) -> list[str]:
    """(c) An agent of Aure: never a 2xx on Boé's guarded routes (its sign-in pages are open to
    anyone), and none of Boé's data, either there
    or on Aure's own routes given Boé's ids."""
    problems = []
    url = endpoint.url("boe", ids)
    response = await ask(walker, endpoint, url)
    if endpoint.permission is not None and 200 <= response.status_code < 300:
        problems.append(f"(c) {walker.name}: {endpoint.method} {url} -> {response.status_code}")
    if MARKER in response.text.lower():
        problems.append(f"(c) {walker.name}: {endpoint.method} {url} shows Boé's data")
    own = endpoint.url("aure", ids)
    response = await ask(walker, endpoint, own)
    if MARKER in response.text.lower():
        problems.append(f"(c) {walker.name}: {endpoint.method} {own} shows Boé's data")
    if response.status_code >= 500:
        problems.append(f"(c) {walker.name}: {endpoint.method} {own} -> {response.status_code}")
    return problems


@dataclasses.dataclass(frozen=True)
class _Role:
    """A role as `can()` reads it (an enabled agent)."""

    role: str
    disabled: bool = False


def test_paths_are_filled_from_parameter_names() -> None:
    endpoint = Endpoint(
        "GET", "/{slug:str}/gestion/a/{agent_id:int}/{other_id:int}/{t:str}", "x", True
    )
    assert endpoint.url("boe", {"agent": 7}) == "/boe/gestion/a/7/1/x"
    assert dataclasses.replace(endpoint, path="/{slug:str}/gestion").url("aure", {}) == (
        "/aure/gestion/"
    )
