"""The security walk of the whole application: every route of the app's route table (parents',
plugins', payment services', static files and the back office), found at run time, so a route
added later is walked without anyone listing it.

For each route: without a session it answers a sign-in step (or 401/403/404), unless it is in
`PUBLIC` with its reason; each state-changing route refuses a request without a valid CSRF
token and with a non-ASCII one (403), unless it is in `CSRF_EXEMPT` with its reason; no GET
changes a row of any table; every response carries the security headers, and every signed-in
answer `Cache-Control: no-store`. Path parameters are filled with the ids of the signed-in
person's own objects. The back office's roles and permissions are walked by
`backoffice/test_route_walk.py`; objects across payers and communes by `test_object_boundaries.py`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar, Router, get
from piccolo.conf.apps import Finder

from core.app import create_app
from core.backoffice.tables import SUPERVISEUR, JournalEntry
from core.config import PortalConfig
from core.contact.tables import ContactMessage
from core.hookspecs import hookimpl
from core.security.tables import Throttle
from core.settings import Settings
from core.web.security import HEADERS
from tests.integration.backoffice.test_route_walk import (
    FALLBACK_ID,
    ID_SOURCES,
    SIGN_IN_STEPS,
    seed_boe,
)
from tests.integration.backoffice.web import signed_in_agent
from tests.integration.conftest import Portal, serve
from tests.integration.people import (
    STATE_CHANGING,
    Endpoint,
    Person,
    app_endpoints,
    browsers,
    own_objects,
    page_token,
    sign_in_parent,
)

MARKER = "zqwalk"
NON_ASCII_TOKEN = "a" * 64 + "é" * 64  # as long as a real token, so its hash part is compared

# (method, route) -> why it answers a visitor without a session.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/"): "the list of communes, and the legacy ?LIEN= redirect",
    ("GET", "/static/{file_path:path}"): "vendored scripts and styles",
    ("GET", "/{slug:str}/theme.css"): "the commune's colours",
    ("GET", "/{slug:str}"): "a visitor sees the sign-in form there",
    ("GET", "/{slug:str}/connexion"): "signing in",
    ("POST", "/{slug:str}/connexion"): "signing in",
    ("POST", "/{slug:str}/deconnexion"): "signing out, harmless without a session",
    ("GET", "/{slug:str}/activation"): "asking for an activation link",
    ("POST", "/{slug:str}/activation"): "asking for an activation link",
    ("GET", "/{slug:str}/activation/envoyee"): "'link sent' page",
    ("GET", "/{slug:str}/activation/{token:str}"): "the link's token is the credential",
    ("POST", "/{slug:str}/activation/{token:str}"): "the link's token is the credential",
    ("GET", "/{slug:str}/mot-de-passe-oublie"): "asking for a reset link",
    ("POST", "/{slug:str}/mot-de-passe-oublie"): "asking for a reset link",
    ("GET", "/{slug:str}/mot-de-passe-oublie/envoye"): "'link sent' page",
    ("GET", "/{slug:str}/mot-de-passe/{token:str}"): "the link's token is the credential",
    ("POST", "/{slug:str}/mot-de-passe/{token:str}"): "the link's token is the credential",
    ("GET", "/{slug:str}/adresse/{token:str}"): "the new address's link token is the credential",
    ("POST", "/{slug:str}/adresse/{token:str}"): "the new address's link token is the credential",
    ("GET", "/{slug:str}/alerte/{token:str}"): "an alert address's owner has no account",
    ("POST", "/{slug:str}/alerte/{token:str}"): "an alert address's owner has no account",
    ("GET", "/{slug:str}/alerte/confirmee"): "an alert address's owner has no account",
    ("GET", "/{slug:str}/paiement/{provider:str}/retour"): "the service sends the browser back",
    ("POST", "/{slug:str}/paiement/{provider:str}/retour"): "the service sends the browser back",
    ("POST", "/{slug:str}/paiement/{provider:str}/notification"): "server-to-server notice",
    ("GET", "/{slug:str}/payfip/retour"): "PayFiP's legacy return address",
    ("POST", "/{slug:str}/payfip/retour"): "PayFiP's legacy return address",
    ("POST", "/{slug:str}/payfip/notification"): "PayFiP's legacy notification address",
    ("GET", "/{slug:str}/tipi/retour"): "TIPI's return address",
    ("POST", "/{slug:str}/tipi/retour"): "TIPI's return address",
    ("POST", "/{slug:str}/api/imports"): "the billing software's API key is the credential",
    ("GET", "/{slug:str}/mentions-legales"): "what a commune must publish, to anyone",
    ("GET", "/{slug:str}/donnees-personnelles"): "the RGPD notice, read before signing up",
    ("GET", "/{slug:str}/accessibilite"): "the accessibility statement, to anyone",
    ("GET", "/{slug:str}/aide"): "help for parents who cannot sign in yet",
    ("GET", "/code-source.tar.gz"): "the running version's source, as the AGPL asks",
    ("GET", "/{slug:str}/compte-supprime"): "the account is gone: its session with it",
    (
        "GET",
        "/{slug:str}/actualites/desabonnement/{account_id:int}/{key:str}",
    ): "the news e-mail's signed unsubscribe link is the credential",
    (
        "POST",
        "/{slug:str}/actualites/desabonnement/{account_id:int}/{key:str}",
    ): "the news e-mail's signed unsubscribe link is the credential",
    ("GET", "/{slug:str}/gestion/connexion"): "agents sign in",
    ("POST", "/{slug:str}/gestion/connexion"): "agents sign in",
    ("GET", "/{slug:str}/gestion/verification"): "agents' second step (a pending sign-in)",
    ("POST", "/{slug:str}/gestion/verification"): "agents' second step (a pending sign-in)",
    (
        "GET",
        "/{slug:str}/gestion/mot-de-passe/{token:str}",
    ): "an agent's link token is the key",
    (
        "POST",
        "/{slug:str}/gestion/mot-de-passe/{token:str}",
    ): "an agent's link token is the key",
}

# (method, route) -> why it takes no CSRF token: no browser session of ours sends it.
CSRF_EXEMPT: dict[tuple[str, str], str] = {
    ("POST", "/{slug:str}/paiement/{provider:str}/notification"): "server-to-server notice",
    ("GET", "/{slug:str}/paiement/{provider:str}/retour"): "the service's form posts it back",
    ("POST", "/{slug:str}/paiement/{provider:str}/retour"): "the service's form posts it back",
    ("POST", "/{slug:str}/payfip/notification"): "server-to-server notice (legacy address)",
    ("GET", "/{slug:str}/payfip/retour"): "the service's form posts it back (legacy address)",
    ("POST", "/{slug:str}/payfip/retour"): "the service's form posts it back (legacy address)",
    ("GET", "/{slug:str}/tipi/retour"): "TIPI's form posts it back",
    ("POST", "/{slug:str}/tipi/retour"): "TIPI's form posts it back",
    ("POST", "/{slug:str}/api/imports"): "an API key in a header, no cookie",
    (
        "POST",
        "/{slug:str}/actualites/desabonnement/{account_id:int}/{key:str}",
    ): "RFC 8058 one-click unsubscribe, authorised by its signed token",
}

# Tables a GET may write, and why; every other table must keep every row as it was.
GET_MAY_WRITE = {
    Throttle._meta.tablename: "rate-limit windows: a refused or counted request opens one",
}
# Columns a GET may write, and why.
GET_MAY_WRITE_COLUMNS = {
    (ContactMessage._meta.tablename, "read_at"): "an agent opening a message marks it read",
}
# Public routes that show a signed-in person's own page (so never kept by a cache).
PERSONAL_WHEN_SIGNED_IN = {("GET", "/{slug:str}")}

# A parent's path parameter -> the key of the signed-in parent's objects that fills it.
PARENT_PARAMETERS = {"invoice_id": "invoice_id", "refdet": "refdet", "address_id": "address_id"}
FIXED_PARAMETERS = {
    "token": "x" * 43,
    "provider": "payfip",
    "file_path": "htmx.min.js",
    # The news e-mails' unsubscribe link: an account id and the key signed for it.
    "account_id": "1",
    "key": "x" * 43,
}


@pytest.fixture
async def people(app: Litestar, portal: Portal) -> AsyncIterator[dict[str, Any]]:
    """Claire, a parent of Boé with an object of each kind; a superviseur of Boé with one of
    each kind of the back office (`seed_boe`); a visitor. Each with its own cookies."""
    async with browsers(app) as browser:
        claire = browser("claire", "boe")
        payer = await sign_in_parent(portal, claire, "claire.zqwalk@example.org", "ZQ1", "Zqwalk")
        objects = await own_objects("boe", payer, "claire.zqwalk@example.org", MARKER)
        agent = browser("superviseur", "boe")
        await signed_in_agent(
            _as(portal, agent), "boe", f"{SUPERVISEUR}.walk@boe.test", SUPERVISEUR
        )
        agent.csrf = await page_token(agent, "/boe/gestion/")
        visitor = browser("visitor", "boe")
        visitor.csrf = await page_token(visitor, "/boe/connexion")
        yield {
            "claire": claire,
            "agent": agent,
            "visitor": visitor,
            "objects": objects,
            "backoffice_ids": await seed_boe(portal),
        }


def _as(portal: Portal, person: Person) -> Portal:
    return Portal(client=person.client, sink=portal.sink, settings=portal.settings)


def filler(objects: dict[str, Any], backoffice_ids: dict[str, int]) -> Callable[[Endpoint], str]:
    """The URL of an endpoint in Boé, its ids those of the signed-in person's objects."""

    def url(endpoint: Endpoint) -> str:
        def fill(name: str, kind: str) -> str:
            if name == "slug":
                return "boe"
            if name in FIXED_PARAMETERS:
                return FIXED_PARAMETERS[name]
            if endpoint.backoffice:
                if kind == "int":
                    return str(backoffice_ids.get(ID_SOURCES.get(name, ""), FALLBACK_ID))
                return "x"
            # A parent's route naming an object the walk does not know: say whose it is.
            assert name in PARENT_PARAMETERS, f"{endpoint.path}: add {name!r} to PARENT_PARAMETERS"
            return str(objects[PARENT_PARAMETERS[name]])

        return endpoint.url(fill)

    return url


def goes_to_sign_in(response: httpx.Response) -> bool:
    location = response.headers.get("location", "").split("?")[0]
    steps = ("/connexion", *SIGN_IN_STEPS)
    return response.is_redirect and location.endswith(steps)


def header_problems(label: str, response: httpx.Response, *, personal: bool) -> list[str]:
    """The security headers on every answer; `Cache-Control: no-store` on a successful answer
    to a signed-in person on a route that needs a session (issue 11, item 8)."""
    problems = [
        f"{label}: header {name} missing or wrong"
        for name, value in HEADERS.items()
        if response.headers.get(name) != value
    ]
    cache = response.headers.get("cache-control", "")
    if personal and response.status_code == 200 and "no-store" not in cache:
        problems.append(f"{label}: signed-in answer without Cache-Control: no-store")
    return problems


async def anonymous_problems(
    visitor: Person, endpoints: list[Endpoint], url: Callable[[Endpoint], str]
) -> list[str]:
    """(a) A visitor: a route outside `PUBLIC` answers a sign-in step or 401/403/404, never
    an answer of its own; no route answers 5xx or shows the marker. Writes carry the visitor's
    valid token, so that the session, not the CSRF check, is what refuses them."""
    problems = []
    for endpoint in endpoints:
        label = f"(a) {endpoint.method} {url(endpoint)}"
        response = await visitor.send(endpoint.method, url(endpoint))
        problems += header_problems(label, response, personal=False)
        if response.status_code >= 500:
            problems.append(f"{label}: {response.status_code}")
        if MARKER in response.text.lower():
            problems.append(f"{label}: data shown without a session")
        public = (endpoint.method, endpoint.path) in PUBLIC
        refused = goes_to_sign_in(response) or response.status_code in (401, 403, 404)
        if not public and not refused:
            problems.append(f"{label}: {response.status_code} without a session (not in PUBLIC)")
    return problems


async def csrf_problems(
    people: dict[str, Any], endpoints: list[Endpoint], url: Callable[[Endpoint], str]
) -> list[str]:
    """(b) Each state-changing route outside `CSRF_EXEMPT` answers 403 to a request without a
    token and to one with a non-ASCII token, from a visitor and from its signed-in user (the
    superviseur for the back office, Claire elsewhere)."""
    problems = []
    for endpoint in endpoints:
        if endpoint.method not in STATE_CHANGING or (endpoint.method, endpoint.path) in CSRF_EXEMPT:
            continue
        user = people["agent"] if endpoint.backoffice else people["claire"]
        for person in (user, people["visitor"]):
            for token in ("", NON_ASCII_TOKEN):
                response = await person.send(endpoint.method, url(endpoint), token=token)
                label = f"(b) {person.name}: {endpoint.method} {url(endpoint)} token={token[:3]!r}"
                if response.status_code != 403:
                    problems.append(f"{label} -> {response.status_code}, expected 403")
                problems += header_problems(label, response, personal=False)
    return problems


async def table_digests() -> dict[str, str]:
    """A digest of every row of every table of every Piccolo app, but `GET_MAY_WRITE`."""
    digests = {}
    for table in Finder().get_table_classes():
        name = table._meta.tablename
        if name in GET_MAY_WRITE:
            continue
        rows = await table.select().order_by(table._meta.primary_key)
        for row in rows:
            for table_name, column in GET_MAY_WRITE_COLUMNS:
                if table_name == name:
                    row.pop(column)
        digests[name] = hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()
    return digests


async def last_journal_id() -> int:
    last = await JournalEntry.select(JournalEntry.id).order_by(JournalEntry.id, ascending=False)
    return last[0]["id"] if last else 0


async def test_every_route_of_the_app(app: Litestar, people: dict[str, Any]) -> None:
    endpoints = app_endpoints(app)
    url = filler(people["objects"], people["backoffice_ids"])
    claire, agent, visitor = people["claire"], people["agent"], people["visitor"]
    problems: list[str] = []

    # The lists say why for each entry, and only about routes that exist.
    paths = {(e.method, e.path) for e in endpoints}
    problems += [f"PUBLIC names a route the app lacks: {k}" for k in PUBLIC if k not in paths]
    exempt = {(e.method, e.path) for e in endpoints if e.csrf_exempt}
    if exempt != set(CSRF_EXEMPT):
        problems.append(f"CSRF-exempt routes {sorted(exempt ^ set(CSRF_EXEMPT))} vs CSRF_EXEMPT")

    # (c) No GET changes a row: every GET, by the visitor then by its signed-in user.
    before, journal = await table_digests(), await last_journal_id()
    problems += await anonymous_problems(visitor, endpoints, url)
    for endpoint in (e for e in endpoints if e.method == "GET"):
        person = agent if endpoint.backoffice else claire
        response = await person.send("GET", url(endpoint))
        label = f"(c) {person.name}: GET {url(endpoint)}"
        key = (endpoint.method, endpoint.path)
        personal = key not in PUBLIC or key in PERSONAL_WHEN_SIGNED_IN
        problems += header_problems(label, response, personal=personal)
        if response.status_code >= 500:
            problems.append(f"{label} -> {response.status_code}")
    changed = {name for name, digest in (await table_digests()).items() if before[name] != digest}
    # Taking personal data out is itself journalled: exports are the only journal entries a
    # GET may add.
    written = await JournalEntry.select(JournalEntry.action).where(JournalEntry.id > journal)
    if all(row["action"].endswith(".export") for row in written):
        changed.discard(JournalEntry._meta.tablename)
    if changed:
        problems.append(f"(c) GET requests changed rows of {sorted(changed)}")

    problems += await csrf_problems(people, endpoints, url)
    assert not problems, "\n".join(problems)


# --- A route added without thought makes the walk fail ----------------------------------------


class CarelessPlugin:
    """A plugin whose route shows a page to anyone: the walk must catch it."""

    __name__ = "careless"

    @hookimpl
    def register_routes(self) -> list[Router]:
        @get("/{slug:str}/mes-secrets", sync_to_thread=False)
        def secrets_page(slug: str) -> str:
            return f"secrets {MARKER}"

        return [Router(path="/", route_handlers=[secrets_page])]


async def test_a_route_added_without_a_session_check_fails_the_walk(
    settings: Settings, portal_config: PortalConfig, portal: Portal
) -> None:
    careless = create_app(
        settings, config=portal_config, extra_plugins=[("careless", CarelessPlugin())]
    )
    async with serve(careless), browsers(careless) as browser:
        visitor = browser("visitor", "boe")
        visitor.csrf = await page_token(visitor, "/boe/connexion")
        added = [e for e in app_endpoints(careless) if e.path.endswith("/mes-secrets")]
        assert len(added) == 1
        problems = await anonymous_problems(visitor, added, lambda e: e.url(lambda *_: "boe"))
    assert problems == [
        "(a) GET /boe/mes-secrets: data shown without a session",
        "(a) GET /boe/mes-secrets: 200 without a session (not in PUBLIC)",
    ]
