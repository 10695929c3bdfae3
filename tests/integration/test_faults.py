"""Faults, on loopback, each bounded in time: the SMTP server down for a whole burst of
activation and alert e-mails, then back; the PayFiP web service slow, unreachable or answering
technical faults while a paid parent comes back. (PostgreSQL restarted under load, and the
server killed during an import or a settlement: `test_faults_processes.py`.)"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import msgspec
import pytest

from core.app import create_app
from core.communes.tables import Commune
from core.config import parse_config
from core.db import Engine
from core.invoices.importer import run_import
from core.invoices.tables import PAID, TO_PAY
from core.mail.sender import OutboxSender
from core.mail.sink import MailSink
from core.mail.tables import OutboundEmail
from core.payments import checks
from core.payments.tables import PENDING, PaymentAttempt
from core.plugins import get_plugin_manager
from core.security.tables import Throttle
from core.settings import Settings
from core.web.templates import build_jinja_env
from simulators.payfip import RunningSimulator, asgi_notifier
from tests.integration.conftest import Portal, add_payer, serve
from tests.integration.test_import import csv_file, row
from tests.integration.test_outbox import closed_port, make_due_now
from tests.integration.test_payments import (
    Payments,
    claire_with_invoices,
    payment_config,
    simulator,
)

__all__ = ["simulator"]  # a fixture used here

# --- SMTP down for a whole burst ------------------------------------------------------------

BURST_ACTIVATIONS = 12
BURST_ALERTS = 6


async def test_smtp_down_for_a_burst_then_back_sends_each_message_once(
    portal: Portal, settings: Settings
) -> None:
    # Parents with active accounts (their activation mails delivered while SMTP was up).
    for i in range(BURST_ALERTS):
        await add_payer("boe", f"AL{i}", f"Famille {i}", f"actif{i}@example.org")
        await portal.activate("boe", f"actif{i}@example.org")
    await portal.deliver()
    portal.sink.clear()
    queued_before = await OutboundEmail.count().where(OutboundEmail.status == "pending")
    assert queued_before == 0

    # The burst: activation requests, then an import with a new invoice for every active parent.
    for i in range(BURST_ACTIVATIONS):
        await add_payer("boe", f"AC{i}", f"Famille {i}", f"nouveau{i}@example.org")
        await Throttle.delete(force=True)  # one visitor asks for many: not what is tested here
        response = await portal.post_form("/boe/activation", {"email": f"nouveau{i}@example.org"})
        assert response.status_code == 303
    commune = await Commune.select(Commune.id).where(Commune.slug == "boe").first()
    assert commune is not None
    lines = [
        row(
            reference_debiteur=f"AL{i}",
            nom_debiteur=f"Famille {i}",
            emails=f"actif{i}@example.org",
            numero_facture=f"BURST-{i}",
        )
        for i in range(BURST_ALERTS)
    ]
    report = await run_import(
        commune["id"],
        csv_file(*lines),
        data_dir=settings.data_dir,
        env=build_jinja_env(settings, get_plugin_manager()),
        base_url=settings.base_url,
    )
    assert report.errors == [] and report.created == BURST_ALERTS
    queued = await OutboundEmail.select(
        OutboundEmail.id, OutboundEmail.recipient, OutboundEmail.subject
    ).where(OutboundEmail.status == "pending")
    burst = OutboundEmail.id.is_in([r["id"] for r in queued])
    assert len(queued) == BURST_ACTIVATIONS + BURST_ALERTS

    # SMTP down: nothing listens on the port, for several rounds of the sender.
    down = OutboxSender(dataclasses.replace(settings, smtp_port=closed_port()))
    for _ in range(4):
        await make_due_now()
        assert await down.deliver_due() == 0
    assert await OutboundEmail.count().where(burst & (OutboundEmail.status != "pending")) == 0

    # Back: every queued message is sent, once.
    up = OutboxSender(settings)
    await make_due_now()
    total = 0
    while sent := await up.deliver_due():
        total += sent
    assert total == len(queued)
    expected = len(queued)
    await portal.sink.await_for(lambda _: len(portal.sink.messages) >= expected, timeout=10)
    received = Counter((m.recipients[0], m.subject) for m in portal.sink.messages)
    assert received == Counter((r["recipient"], r["subject"]) for r in queued)
    assert await up.deliver_due() == 0
    assert await OutboundEmail.count().where(burst & (OutboundEmail.status == "sent")) == len(
        queued
    )


# --- The PayFiP web service slow, unreachable, failing --------------------------------------

SERVICE_TIMEOUT = 3.0  # seconds the portal waits for the service (15 in production)
TECHNICAL_FAULT = "TechDysfonctionnementErreur"


class FlakyService:
    """A loopback TCP relay in front of the simulator's web service: "up" relays, "slow"
    answers nothing for longer than the portal waits, "down" listens no more (refused)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.path = parts.path
        self.mode = "up"
        self.port = 0
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def listen(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def set(self, mode: str) -> None:
        if mode == "down" and self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        elif mode != "down" and self.server is None:
            await self.listen()
        self.mode = mode

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.mode == "slow":
                await asyncio.sleep(SERVICE_TIMEOUT * 4)
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.fixture
async def flaky(
    clean_db: Engine, settings: Settings, simulator: RunningSimulator, mail_sink: MailSink
) -> AsyncIterator[tuple[Payments, FlakyService]]:
    service = FlakyService(simulator.soap_url)
    await service.listen()
    through = SimpleNamespace(
        soap_url=service.url, payment_url=simulator.payment_url, tipi_url=simulator.tipi_url
    )
    raw = msgspec.to_builtins(payment_config(through))  # type: ignore[arg-type]
    raw["communes"][0]["plugins"]["payfip"]["timeout"] = SERVICE_TIMEOUT
    async with paying_with(settings, simulator, mail_sink, parse_config(raw)) as payments:
        yield payments, service
    await service.set("down")


@contextlib.asynccontextmanager
async def paying_with(
    settings: Settings, sim: RunningSimulator, sink: MailSink, config: Any
) -> AsyncIterator[Payments]:
    """`paying()`, with `config` instead of the simulator's own addresses."""
    settings = dataclasses.replace(settings, payment_recheck_interval=0)
    app = create_app(settings, config=config)
    sim.state.notify = asgi_notifier(app)
    async with serve(app) as client:
        yield Payments(Portal(client=client, sink=sink, settings=settings), sim, app)


@pytest.mark.parametrize("fault", ["slow", "down", "technical"])
async def test_the_service_failing_leaves_the_payment_open_until_the_recheck(
    flaky: tuple[Payments, FlakyService], fault: str
) -> None:
    pay, service = flaky
    (invoice_id,) = await claire_with_invoices(pay, 4200)
    pay.sim.state.notifications = "lose"
    idop = await pay.start_payfip(invoice_id)
    await pay.sim.state.complete(idop, "P")  # paid at the service; no notification came

    if fault == "technical":
        for _ in range(3):
            pay.sim.state.queue_fault(
                "TechDysfonctionnementErreur", "recupererDetailPaiementSecurise"
            )
    else:
        await service.set(fault)
    started = asyncio.get_running_loop().time()
    back = await pay.client.get(f"/boe/paiement/payfip/retour?idop={idop}", follow_redirects=True)
    assert asyncio.get_running_loop().time() - started < SERVICE_TIMEOUT * 8
    assert back.status_code == 200
    assert "Paiement en cours de traitement" in back.text
    attempt = await pay.attempt(idop)
    assert attempt["state"] == PENDING  # never "failed" for a fault of the service
    assert (await pay.invoice(invoice_id))["status"] == TO_PAY

    # The service is back: the background re-check settles it.
    await service.set("up")
    pay.sim.state.fault_queue.clear()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await PaymentAttempt.update(
        {PaymentAttempt.next_check_at: past, PaymentAttempt.last_checked_at: None}
    ).where(PaymentAttempt.provider_reference == idop)
    communes = {c.id: c for c in pay.app.state.portal.communes.values()}
    assert await checks.recheck_due(communes, pay.mailer) == 1
    assert (await pay.attempt(idop))["state"] == "paid"
    assert (await pay.invoice(invoice_id))["status"] == PAID
