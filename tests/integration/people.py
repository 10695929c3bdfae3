"""People with their own cookies and the objects they own, for the walks and the fuzzing.

Each `Person` has a client of its own on the app (so sessions never mix), is signed in, and holds
its CSRF token. `own_objects` gives a parent one object of each kind a route can name by id (an
invoice, a paid payment with its receipt, an alert address), every text carrying a marker that
must never appear in another person's answers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar

from core.accounts.tables import Account
from core.alert_addresses.tables import AlertAddress
from core.app import CSRF_HEADER
from core.communes.tables import Commune, Regie
from core.payments.tables import PAID, PaymentAttempt, PaymentAttemptInvoice
from tests.integration.conftest import CSRF_PATTERN, Portal, add_invoice, add_payer

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PARAMETER = re.compile(r"\{(\w+):(\w+)\}")


@dataclasses.dataclass
class Person:
    """A browser of its own: a client with its cookies, and the CSRF token its pages carry."""

    name: str
    slug: str | None
    client: httpx.AsyncClient
    csrf: str = ""

    async def send(
        self, method: str, url: str, data: dict[str, str] | None = None, *, token: str | None = None
    ) -> httpx.Response:
        """`method` on `url`; a write carries `token` (default: this person's own) as a form
        field and as the htmx header, since a DELETE or PUT has no form."""
        if method == "GET":
            return await self.client.get(url, follow_redirects=False)
        token = self.csrf if token is None else token
        form = {**(data or {}), "_csrf_token": token} if token else data
        headers = {CSRF_HEADER: token.encode()} if token else {}
        return await self.client.request(
            method, url, data=form, headers=headers, follow_redirects=False
        )


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One method of one route of the app's route table."""

    method: str
    path: str  # the route's template, e.g. /{slug:str}/factures/{invoice_id:int}
    csrf_exempt: bool

    @property
    def parameters(self) -> list[tuple[str, str]]:
        return PARAMETER.findall(self.path)

    @property
    def backoffice(self) -> bool:
        return self.path.startswith("/{slug:str}/gestion")

    def url(self, fill: Callable[[str, str], str]) -> str:
        url = PARAMETER.sub(lambda match: fill(*match.groups()), self.path)
        # A commune's root is `/<slug>/`, the back office's `/<slug>/gestion/`: where the
        # session cookies' paths begin.
        root = url.endswith("/gestion") or (url.count("/") == 1 and url != "/")
        return url + "/" if root else url


def app_endpoints(app: Litestar) -> list[Endpoint]:
    """Every method of every route the app has now (parents', plugins', payment services',
    back office, static files): a route added later is in this list without anyone adding it."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            exempt = bool(handler.opt.get("exclude_from_csrf"))
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                found.append(Endpoint(method, route.path, exempt))
    return found


@asynccontextmanager
async def browsers(app: Litestar) -> AsyncIterator[Callable[[str, str | None], Person]]:
    """A factory of anonymous `Person`s on `app`, each with its own client; all closed after."""
    clients: list[httpx.AsyncClient] = []

    def browser(name: str, slug: str | None = None) -> Person:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portail.test"
        )
        clients.append(client)
        return Person(name, slug, client)

    try:
        yield browser
    finally:
        for client in clients:
            await client.aclose()


async def sign_in_parent(portal: Portal, person: Person, email: str, ref: str, name: str) -> int:
    """`person` becomes the parent of a payer of its commune (activation, which signs in);
    returns the payer's id. Its CSRF token is then the one its pages carry."""
    assert person.slug is not None
    payer_id = await add_payer(person.slug, ref, name, email)
    await dataclasses.replace(portal, client=person.client).activate(person.slug, email)
    person.csrf = await page_token(person, f"/{person.slug}/mes-informations")
    return payer_id


async def page_token(person: Person, path: str) -> str:
    page = await person.client.get(path, follow_redirects=False)
    match = CSRF_PATTERN.search(page.text)
    assert match, f"{person.name}: no CSRF field on {path} ({page.status_code})"
    return match.group(1)


async def own_objects(slug: str, payer_id: int, email: str, marker: str) -> dict[str, Any]:
    """One object of each kind a parent's route names by id, all of the parent of `payer_id`,
    every text carrying `marker`: an invoice (and its PDF), a paid payment (its result page
    and receipt), a confirmed alert address. Returns the values of the path parameters."""
    commune = await Commune.select(Commune.id).where(Commune.slug == slug).first()
    assert commune is not None
    account = await Account.select(Account.id).where(Account.email == email).first()
    assert account is not None
    invoice_id = await add_invoice(
        slug, payer_id, f"{marker.upper()}-0001", amount=98765, object=f"Cantine {marker}"
    )
    regie = await Regie.select(Regie.id).where(Regie.commune == commune["id"]).first()
    assert regie is not None
    moment = dt.datetime.now(dt.UTC)
    refdet = f"{marker.upper()}{payer_id:06d}"
    rows = await PaymentAttempt.insert(
        PaymentAttempt(
            commune=commune["id"],
            account=account["id"],
            regie=regie["id"],
            provider="payfip",
            refdet=refdet,
            numcli="004200",
            exer="2026",
            amount_cents=98765,
            email=email,
            objet=f"Paiement {marker}",
            state=PAID,
            authorisation_number=f"AUT{marker.upper()}",
            paid_at=moment,
            created_at=moment,
            updated_at=moment,
        )
    ).returning(PaymentAttempt.id)
    await PaymentAttemptInvoice.insert(
        PaymentAttemptInvoice(attempt=rows[0]["id"], invoice=invoice_id, amount_cents=98765)
    )
    address = await AlertAddress.insert(
        AlertAddress(
            account=account["id"],
            email=f"alerte.{marker}@example.org",
            confirmed_at=moment,
            created_at=moment,
        )
    ).returning(AlertAddress.id)
    return {"invoice_id": invoice_id, "refdet": refdet, "address_id": address[0]["id"]}
