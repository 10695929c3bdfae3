"""Background work that must run once, however many processes share the database (SQLite and
PostgreSQL): the leader election of `core.leader`, and the re-check's claim of each due attempt.

The processes of `portail serve --workers N` are played here by concurrent tasks and by child
processes; `test_several_servers.py` runs real servers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from core.db import Engine
from core.engines import engine_for
from core.leader import Job, Leadership, lead, leadership_for
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
from core.leader import leadership_for

async def main():
    lock = leadership_for(engine_for(sys.argv[1]))
    assert await lock.try_acquire()
    print("held", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_the_lock_of_a_killed_leader_is_free_again(
    clean_db: Engine, database_url: str
) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_THE_LOCK,
        database_url,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    follower: Leadership = leadership_for(engine_for(database_url))
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), timeout=20)
        assert line.strip() == b"held"
        assert not await follower.try_acquire()
        holder.send_signal(signal.SIGKILL)  # no clean-up of its own: the database or the kernel
        await holder.wait()
        for _ in range(50):
            if await follower.try_acquire():
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the lock of the killed process was not released within 5 s")
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await follower.release()
