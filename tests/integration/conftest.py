"""An application per test, on a clean database, with a real SMTP sink on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from core.accounts.names import search_name
from core.accounts.tables import Payer, PayerEmail
from core.app import create_app
from core.communes.tables import Commune, Regie
from core.config import PortalConfig, parse_config
from core.db import Engine, transaction
from core.invoices.services import today
from core.invoices.tables import TO_PAY, Invoice
from core.mail.sender import OutboxSender
from core.mail.sink import MailSink, ReceivedMail
from core.security import audit
from core.settings import Settings

CONFIG: dict[str, Any] = {
    "communes": [
        {
            "slug": "boe",
            "name": "Ville de Boé",
            "link_code": "M470310001",
            "contact": {
                "email": "facturation@boe.test",
                "phone": "05 53 00 00 00",
                "hours": "9h-12h",
            },
            "regies": [{"code": "CANT", "name": "Cantine", "client_number": "004200"}],
            "plugins": {"payfip": {"saisie": "T"}, "paper_optout": {}},
        },
        {
            "slug": "aure",
            "name": "Mairie d'Aure",
            "link_code": "X990030101",
            "password_min_length": 10,
            "contact": {"email": "regie@aure.test"},
            "plugins": {"tipi_legacy": {}},
        },
    ]
}

GOOD_PASSWORD = "une phrase de passe assez longue"
CSRF_PATTERN = re.compile(r'name="_csrf_token" value="([^"]+)"')
LINK_PATTERN = re.compile(r"https?://\S+")


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    with MailSink() as sink:
        yield sink


@dataclass
class SecurityLog:
    """The security log's JSON lines written during a test (`core.security.audit`)."""

    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self, event: str | None = None) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self.text.splitlines()]
        return [line for line in found if event is None or line["event"] == event]

    def outcomes(self, event: str) -> list[str]:
        return [line["outcome"] for line in self.lines(event)]


@pytest.fixture
def security_log() -> Iterator[SecurityLog]:
    """Captures the lines as `portail serve` writes them (the logger does not propagate)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(audit.JsonLineFormatter())
    audit.logger.addHandler(handler)
    try:
        yield SecurityLog(stream)
    finally:
        audit.logger.removeHandler(handler)


@pytest.fixture
def portal_config() -> PortalConfig:
    return parse_config(CONFIG)


@pytest.fixture
def settings(database_url: str, mail_sink: MailSink) -> Settings:
    return Settings(
        database_url=database_url,
        base_url="http://portail.test",
        secret_key="test-secret-key-long-enough-for-32-chars",
        debug=True,
        smtp_host="127.0.0.1",
        smtp_port=mail_sink.port,
        run_outbox_sender=False,
    )


@pytest.fixture
def app(clean_db: Engine, settings: Settings, portal_config: PortalConfig) -> Litestar:
    return create_app(settings, config=portal_config)


@dataclass
class Portal:
    """A test client with the helpers every journey needs."""

    client: httpx.AsyncClient
    sink: MailSink
    settings: Settings

    async def csrf(self, path: str) -> str:
        response = await self.client.get(path)
        match = CSRF_PATTERN.search(response.text)
        assert match, f"no CSRF field on {path}"
        return match.group(1)

    async def post_form(
        self, path: str, data: dict[str, str], *, form_page: str | None = None, htmx: bool = False
    ) -> Any:
        token = await self.csrf(form_page or path)
        headers = {"hx-request": "true"} if htmx else {}
        if htmx:
            headers["x-csrftoken"] = token
        return await self.client.post(
            path, data={**data, "_csrf_token": token}, headers=headers, follow_redirects=False
        )

    async def deliver(self) -> int:
        return await OutboxSender(self.settings).deliver_due()

    async def mail_to(self, address: str, subject_part: str = "") -> ReceivedMail:
        """The newest message to `address` whose subject contains `subject_part`."""
        await self.deliver()

        def matches(mail: ReceivedMail) -> bool:
            return address in mail.recipients and subject_part in mail.subject

        await self.sink.await_for(matches, timeout=5)
        return next(m for m in reversed(self.sink.messages) if matches(m))

    async def link_in_mail(self, address: str, subject_part: str = "") -> str:
        mail = await self.mail_to(address, subject_part)
        links = LINK_PATTERN.findall(mail.text)
        assert links, mail.text
        return links[0].removeprefix(self.settings.base_url)

    async def login(self, slug: str, email: str, password: str, remember: bool = False) -> Any:
        data = {"email": email, "password": password}
        if remember:
            data["remember"] = "on"
        return await self.post_form(f"/{slug}/connexion", data)

    async def activate(self, slug: str, email: str, password: str = GOOD_PASSWORD) -> None:
        await self.post_form(f"/{slug}/activation", {"email": email})
        link = await self.link_in_mail(email, "Accès")
        response = await self.post_form(link, {"password": password, "confirmation": password})
        assert response.status_code == 303, response.text


@pytest.fixture
async def portal(app: Litestar, mail_sink: MailSink, settings: Settings) -> AsyncIterator[Portal]:
    mail_sink.clear()
    async with serve(app) as client:
        yield Portal(client=client, sink=mail_sink, settings=settings)


@contextlib.asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk to it in the test's own event loop.

    Litestar's AsyncTestClient runs the lifespan in a thread with another loop, where a
    PostgreSQL pool opened at start-up could not serve the requests.
    """
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        # Entered and exited in one task, as anyio's cancel scopes require.
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run_lifespan())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when="FIRST_COMPLETED")
    if task.done():
        task.result()  # start-up failed: raise its error
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://portail.test", follow_redirects=True
        ) as client:
            yield client
    finally:
        stop.set()
        await task


async def add_payer(slug: str, ref: str, name: str, *emails: str) -> int:
    """A payer of commune `slug` known by `emails`, as an import from the billing software adds."""
    commune = await Commune.select(Commune.id).where(Commune.slug == slug).first()
    assert commune is not None, "the app must have started (portal fixture) first"
    async with transaction():
        rows = await Payer.insert(
            Payer(commune=commune["id"], external_ref=ref, name=name, search_name=search_name(name))
        ).returning(Payer.id)
        await PayerEmail.insert(
            *[PayerEmail(commune=commune["id"], payer=rows[0]["id"], email=e) for e in emails]
        )
    return int(rows[0]["id"])


async def sign_in(
    portal: Portal, slug: str = "boe", email: str = "claire@example.org", ref: str = "P1"
) -> int:
    """A payer known by `email`, whose parent activates the account (and is then logged in)."""
    payer_id = await add_payer(slug, ref, f"Famille {ref}", email)
    await portal.activate(slug, email)
    return payer_id


_sequence = iter(range(1, 1_000_000))


async def add_invoice(
    slug: str,
    payer_id: int,
    number: str | None = None,
    *,
    regie: str | None = None,
    issued_on: dt.date = dt.date(2026, 1, 10),
    due_on: dt.date | None = None,
    amount: int = 24311,
    paid: int = 0,
    status: str = TO_PAY,
    **fields: Any,
) -> int:
    """An invoice row, as the import writes it; returns its id."""
    commune = await Commune.select(Commune.id).where(Commune.slug == slug).first()
    assert commune is not None
    code = regie or {"boe": "CANT", "aure": "PERI"}[slug]
    regie_row = (
        await Regie.select(Regie.id)
        .where((Regie.commune == commune["id"]) & (Regie.code == code))
        .first()
    )
    assert regie_row is not None
    now = dt.datetime.now(dt.UTC)
    rows = await Invoice.insert(
        Invoice(
            commune=commune["id"],
            regie=regie_row["id"],
            payer=payer_id,
            number=number or f"2026-{next(_sequence):06d}",
            object=fields.pop("object", "Restauration scolaire janvier"),
            issued_on=issued_on,
            due_on=due_on if due_on is not None else today() + dt.timedelta(days=20),
            amount_cents=amount,
            paid_cents=paid,
            status=status,
            published_at=now,
            updated_at=now,
            **fields,
        )
    ).returning(Invoice.id)
    return int(rows[0]["id"])
