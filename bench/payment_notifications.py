"""A burst of duplicate PayFiP notifications: how many times the portal asks the service, and
how long the notifications wait, with the per-attempt check lock and without it.

    .venv/bin/python bench/payment_notifications.py [--bursts 20] [--duplicates 50]

The portal app runs in this process on a temporary SQLite database (real migrations), and pays
through the PayFiP simulator on a loopback port (real SOAP over HTTP). Each burst: an attempt is
started for a fresh invoice, the simulator records it paid, then `--duplicates` notifications
for its idop are POSTed at once to `/boe/payfip/notification` (through the ASGI app).

Two rounds on the same machine, interleaved burst by burst:
- **serialised** (the portal as it is): checks of one attempt run one at a time; a notification
  arriving while its attempt is being checked only asks for one more check afterwards and is
  answered at once (no rate-limit write, no question to the service);
- **unserialised**: every notification gets a lock of its own, so each one goes through the
  rate limit (a write) and re-reads the attempt, and those racing the first check ask the
  service too.

Printed per round: SOAP `recupererDetailPaiementSecurise` calls per burst, the notifications'
latency (median and 95th percentile) and the burst's time (median); then the ratios. Both
rounds must settle every invoice exactly once (the conditional UPDATE and the unique index hold
without the lock): the script exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from core import db
from core.accounts.tables import Account, AccountPayer, Payer
from core.app import create_app
from core.communes.tables import Commune, Regie
from core.config import parse_config
from core.invoices.tables import Invoice
from core.mail.tables import OutboundEmail
from core.payments import attempts, basket, checks, service_routes
from core.payments.tables import PaymentAttemptInvoice
from core.security import throttle
from core.settings import Settings
from core.web.identity import SignedIn
from plugins.payfip import client as payfip_client
from simulators.payfip import running_simulator


class NoSharedLocks(weakref.WeakValueDictionary):  # type: ignore[type-arg]
    """Every check gets a lock of its own: no serialisation per attempt."""

    def get(self, key: Any, default: Any = None) -> Any:
        return default

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


class SoapCounter:
    """Counts `payment_detail` calls (recupererDetailPaiementSecurise) made by the portal."""

    def __init__(self) -> None:
        self.calls = 0
        self._original = payfip_client.PayfipClient.payment_detail

    def install(self) -> None:
        counter, original = self, self._original

        async def counted(client: Any, idop: str) -> Any:
            counter.calls += 1
            return await original(client, idop)

        payfip_client.PayfipClient.payment_detail = counted  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def portal(sim: Any, database: Path) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    config = parse_config(
        {
            "communes": [
                {
                    "slug": "boe",
                    "name": "Ville de Boé",
                    "contact": {"email": "facturation@boe.test"},
                    "regies": [{"code": "CANT", "name": "Cantine", "client_number": "004200"}],
                    "plugins": {
                        "payfip": {
                            "saisie": "T",
                            "web_service_url": sim.soap_url,
                            "payment_url": sim.payment_url,
                        }
                    },
                }
            ]
        }
    )
    settings = Settings(
        database_url=f"sqlite:///{database}",
        base_url="http://portail.bench",
        secret_key="bench-only-throw-away-key-32-characters",  # noqa: S106 (a throw-away app)
        run_outbox_sender=False,
        payment_recheck_interval=0,
    )
    engine = db.use_database(settings.database_url)
    await db.open_database(engine)
    await db.migrate()
    await db.close_database(engine)
    app = create_app(settings, config=config)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://portail.bench") as c:
            yield app, c


async def parent(commune_id: int) -> tuple[SignedIn, int, int]:
    """An active account and its payer; returns (account, payer id, régie id)."""
    now = dt.datetime.now(dt.UTC)
    payer = (
        await Payer.insert(Payer(commune=commune_id, external_ref="B1", name="Bench")).returning(
            Payer.id
        )
    )[0]["id"]
    account = (
        await Account.insert(
            Account(commune=commune_id, email="bench@example.org", state="active", created_at=now)
        ).returning(Account.id)
    )[0]["id"]
    await AccountPayer.insert(AccountPayer(account=account, payer=payer))
    regie = await Regie.select(Regie.id).where(Regie.commune == commune_id).first()
    signed_in = SignedIn(
        account_id=account, email="bench@example.org", session_hash="", persistent=False
    )
    return signed_in, payer, regie["id"]  # type: ignore[index]


async def burst(
    app: Any, client: httpx.AsyncClient, sim: Any, who: tuple[SignedIn, int, int], n: int, k: int
) -> tuple[list[float], float, int]:
    """One attempt paid, `k` notifications at once; (latencies, burst seconds, invoice id)."""
    account, payer, regie = who
    commune = app.state.portal.communes["boe"]
    now = dt.datetime.now(dt.UTC)
    invoice = (
        await Invoice.insert(
            Invoice(
                commune=commune.id, regie=regie, payer=payer, number=f"BENCH-{n}",
                issued_on=now.date(), amount_cents=2500, published_at=now, updated_at=now,
            )
        ).returning(Invoice.id)
    )[0]["id"]  # fmt: skip
    plan = await basket.plan_payment(commune, account, [invoice])
    _refdet, url = await attempts.start_payment(commune, account, plan, "http://portail.bench")
    idop = url.rsplit("=", 1)[1]
    sim.state.set_result(idop, "P")

    async def notify() -> float:
        started = time.perf_counter()
        response = await client.post("/boe/payfip/notification", data={"idop": idop})
        assert response.status_code == 200, response.status_code
        return time.perf_counter() - started

    started = time.perf_counter()
    latencies = await asyncio.gather(*(notify() for _ in range(k)))
    return list(latencies), time.perf_counter() - started, invoice


async def main(bursts: int, duplicates: int) -> int:
    # Every notification comes from this one address: lift the per-address limit (120/min).
    service_routes.NOTIFICATIONS = throttle.Limit("payment_notification", 10**9, 60)
    counter = SoapCounter()
    counter.install()
    rounds = {"serialised": checks._check_locks, "unserialised": NoSharedLocks()}
    figures: dict[str, dict[str, list[float]]] = {
        name: {"calls": [], "latency": [], "burst": []} for name in rounds
    }
    settled_ok = True
    with tempfile.TemporaryDirectory(prefix="portail-bench-") as tmp:
        async with running_simulator() as sim:
            sim.state.notifications = "lose"  # the bench sends the notifications itself
            async with portal(sim, Path(tmp) / "bench.sqlite") as (app, client):
                commune = await Commune.select(Commune.id).first()
                who = await parent(commune["id"])  # type: ignore[index]
                invoices: list[int] = []
                for _ in range(bursts):
                    for name, locks in rounds.items():
                        checks._check_locks = locks
                        before = counter.calls
                        latencies, seconds, invoice = await burst(
                            app, client, sim, who, len(invoices), duplicates
                        )
                        invoices.append(invoice)
                        figures[name]["calls"].append(counter.calls - before)
                        figures[name]["latency"].extend(latencies)
                        figures[name]["burst"].append(seconds)
                checks._check_locks = rounds["serialised"]
                paid = await Invoice.select(Invoice.paid_cents).where(Invoice.id.is_in(invoices))
                settled = await PaymentAttemptInvoice.count().where(
                    PaymentAttemptInvoice.settled == True  # noqa: E712
                )
                receipts = await OutboundEmail.count().where(OutboundEmail.subject.like("Reçu%"))
                settled_ok = (
                    all(row["paid_cents"] == 2500 for row in paid)
                    and settled == len(invoices)
                    and receipts == len(invoices)
                )
    print(f"{bursts} bursts of {duplicates} duplicate notifications per round (SQLite, simulator)")
    for name, values in figures.items():
        latency = sorted(values["latency"])
        p95 = latency[int(len(latency) * 0.95) - 1]
        print(
            f"  {name:>12}: SOAP calls per burst {statistics.mean(values['calls']):5.1f}, "
            f"notification latency median {statistics.median(latency) * 1000:6.1f} ms, "
            f"p95 {p95 * 1000:6.1f} ms, burst {statistics.median(values['burst']) * 1000:6.1f} ms"
        )
    ratio = statistics.mean(figures["unserialised"]["calls"]) / max(
        statistics.mean(figures["serialised"]["calls"]), 1e-9
    )
    burst_ratio = statistics.median(figures["unserialised"]["burst"]) / max(
        statistics.median(figures["serialised"]["burst"]), 1e-9
    )
    print(f"  SOAP calls, unserialised / serialised: {ratio:.1f}")
    print(f"  burst time, unserialised / serialised: {burst_ratio:.1f}")
    print(f"  every invoice settled exactly once, one receipt each: {settled_ok}")
    return 0 if settled_ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bursts", type=int, default=20)
    parser.add_argument("--duplicates", type=int, default=50)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.bursts, args.duplicates)))
