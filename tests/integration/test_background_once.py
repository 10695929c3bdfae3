"""Background work that must run once, however many processes share the database (SQLite and
PostgreSQL): the leader election of `core.leader`, and the re-check's claim of each due attempt.

The processes of `portail serve --workers N` are played here by concurrent tasks and by child
processes; `test_several_servers.py` runs real servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from core.backoffice import imports
from core.backoffice.tables import ImportJob
from core.communes.tables import Commune
from core.db import Engine
from core.engines import engine_for
from core.leader import BACKGROUND_LOCK, Job, Leadership, lead, leadership_for
from core.mail.sink import MailSink
from core.payments import checks
from core.payments.tables import PaymentAttempt
from core.settings import Settings
from simulators.payfip import running_simulator
from tests.integration.test_payments import Payments, claire_with_invoices, paying

WORKERS = 4


@pytest.fixture
async def pay(clean_db: Engine, settings: Settings, mail_sink: MailSink) -> AsyncIterator[Payments]:
    async with running_simulator() as sim, paying(settings, sim, mail_sink) as payments:
        yield payments


async def test_concurrent_rechecks_ask_the_service_once_per_due_attempt(pay: Payments) -> None:
    invoice_ids = await claire_with_invoices(pay, 1000, 2000, 3000)
    idops = [await pay.start_payfip(invoice_id) for invoice_id in invoice_ids]  # unpaid: P5
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await PaymentAttempt.update(
        {PaymentAttempt.next_check_at: past, PaymentAttempt.last_checked_at: None}
    ).where(PaymentAttempt.provider_reference.is_in(idops))
    communes = {c.id: c for c in pay.app.state.portal.communes.values()}

    asked = await asyncio.gather(
        *(checks.recheck_due(communes, pay.mailer) for _ in range(WORKERS))
    )

    assert sum(asked) == len(idops)
    assert [pay.sim.state.operations[idop].questions for idop in idops] == [1, 1, 1]
    # Each attempt's next check was set by its one question (P5: later, on the backoff).
    for idop in idops:
        attempt = await pay.attempt(idop)
        assert attempt["state"] == "pending" and attempt["result_code"] == "P5"
    assert await checks.recheck_due(communes, pay.mailer) == 0


async def test_one_process_leads_and_another_takes_over(clean_db: Engine) -> None:
    first, second = leadership_for(clean_db), leadership_for(clean_db)
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        assert await first.still_held()
        await first.release()
        assert await second.try_acquire()
        assert not await first.try_acquire()
    finally:
        await first.release()
        await second.release()


async def test_only_the_leader_runs_the_jobs(clean_db: Engine) -> None:
    runs: list[str] = []

    def job(name: str) -> Job:
        async def run() -> None:
            runs.append(name)
            await asyncio.Event().wait()  # a background loop: runs until cancelled

        return run

    def leader(name: str) -> asyncio.Task[None]:
        return asyncio.create_task(
            lead(leadership_for(clean_db), [job(name)], retry_seconds=0.05, check_seconds=0.05)
        )

    one = leader("one")
    await asyncio.sleep(0.3)
    two, three = leader("two"), leader("three")
    await asyncio.sleep(0.5)
    assert runs == ["one"]
    one.cancel()  # the leader stops: its lock is given back, a follower takes over
    await asyncio.gather(one, return_exceptions=True)
    await asyncio.sleep(0.5)
    assert runs[0] == "one" and len(runs) == 2 and runs[1] in {"two", "three"}
    for task in (two, three):
        task.cancel()
    await asyncio.gather(two, three, return_exceptions=True)


HOLD_THE_LOCK = """
import asyncio, sys
from core.engines import engine_for
from core.leader import process_lock

async def main():
    lock = process_lock(engine_for(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
    assert await lock.try_acquire()
    print("held", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def lock_held_elsewhere(
    database_url: str, name: str, key: int
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Another process holding the lock `name`/`key` of this database (kill it to end it)."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_THE_LOCK,
        database_url,
        name,
        str(key),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), timeout=20)
        assert line.strip() == b"held"
        yield holder
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def killed(holder: asyncio.subprocess.Process) -> None:
    holder.send_signal(signal.SIGKILL)  # no clean-up of its own: the database or the kernel
    await holder.wait()


async def test_the_lock_of_a_killed_leader_is_free_again(
    clean_db: Engine, database_url: str
) -> None:
    follower: Leadership = leadership_for(engine_for(database_url))
    try:
        async with lock_held_elsewhere(database_url, "background", BACKGROUND_LOCK) as leader:
            assert not await follower.try_acquire()
            await killed(leader)
            for _ in range(50):
                if await follower.try_acquire():
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the lock of the killed process was not released within 5 s")
    finally:
        await follower.release()


async def test_a_starting_server_fails_only_the_imports_no_process_publishes(
    clean_db: Engine, database_url: str
) -> None:
    commune = Commune(slug="boe", name="Ville de Boé")
    await commune.save()
    jobs = []
    for name in ("publie-ailleurs.csv", "abandonne.csv"):
        job = ImportJob(
            commune=commune.id,
            file_name=name,
            source="web",
            status="publishing",
            created_at=dt.datetime.now(dt.UTC),
        )
        await job.save()
        jobs.append(job.id)
    live, dead = jobs
    lock = (f"import-{live}", imports.PUBLISHING_LOCKS + live)
    async with lock_held_elsewhere(database_url, *lock) as publisher:
        # A server starts while another publishes `live`; nobody publishes `dead` any more.
        assert await imports.fail_interrupted_imports() == 1
        assert await status_of(live) == "publishing"
        assert await status_of(dead) == "failed"
        await killed(publisher)
    assert await imports.fail_interrupted_imports() == 1  # the next start: it died meanwhile
    assert await status_of(live) == "failed"


async def status_of(job_id: int) -> str:
    row = await ImportJob.select(ImportJob.status).where(ImportJob.id == job_id).first()
    assert row is not None
    return str(row["status"])
