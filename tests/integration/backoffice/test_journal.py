"""The journal: entries recorded with their change, listed newest first, filtered; append-only."""

from __future__ import annotations

import datetime as dt
import inspect

import pytest

from core import db
from core.backoffice import journal
from core.backoffice.journal import Actor, JournalFilters, list_entries, record
from core.backoffice.tables import JournalEntry
from core.communes.context import CommuneContext
from core.db import transaction


async def test_record_and_list(communes: dict[str, CommuneContext]) -> None:
    boe, aure = communes["boe"].id, communes["aure"].id
    api = Actor.api("Logiciel", client_ip="198.51.100.7")
    async with transaction():
        await record(
            "payments.suspend",
            api,
            commune_id=boe,
            target="régie CANT",
            before=None,
            after={"message": "Travaux"},
        )
        await record("invoices.import.publish", Actor.command_line(), commune_id=boe)
        await record("invoices.import.publish", Actor.command_line(), commune_id=aure)
    page = await list_entries(boe)
    assert page.total == 2 and page.pages == 1
    newest, oldest = page.entries
    assert newest.action == "invoices.import.publish" and newest.actor_label == "Ligne de commande"
    assert oldest.actor_label == "API : clé « Logiciel »"
    assert (oldest.agent_id, oldest.client_ip) == (None, "198.51.100.7")
    assert (oldest.target, oldest.before, oldest.after) == (
        "régie CANT",
        None,
        {"message": "Travaux"},
    )
    assert (await list_entries(None)).total == 3  # a superviseur's view


async def test_a_rolled_back_change_leaves_no_entry(communes: dict[str, CommuneContext]) -> None:
    with pytest.raises(RuntimeError):
        async with transaction():
            await record("agents.create", Actor.command_line(), commune_id=communes["boe"].id)
            raise RuntimeError("the change failed")
    assert await JournalEntry.count() == 0


async def test_filters_and_pages(communes: dict[str, CommuneContext]) -> None:
    boe = communes["boe"].id
    async with transaction():
        for action in ["api_keys.create", "apiXkeys.create", "payments.suspend", "PAYMENTS.x"]:
            await record(action, Actor.command_line(), commune_id=boe)
    by_prefix = await list_entries(boe, JournalFilters(action_prefix="api_keys."))
    assert [e.action for e in by_prefix.entries] == ["api_keys.create"]  # "_" is no wildcard
    payments = await list_entries(boe, JournalFilters(action_prefix="payments"))
    assert [e.action for e in payments.entries] == ["payments.suspend"]  # case counts

    # Days are Paris days: an entry at 23:30 UTC on 31 March is on 1 April in Paris.
    at = dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)
    await JournalEntry.insert(
        JournalEntry(at=at, commune=boe, actor_label="x", action="old.entry", target="")
    )
    april_first = JournalFilters(from_day=dt.date(2026, 4, 1), to_day=dt.date(2026, 4, 1))
    assert [e.action for e in (await list_entries(boe, april_first)).entries] == ["old.entry"]
    march = JournalFilters(to_day=dt.date(2026, 3, 31))
    assert (await list_entries(boe, march)).total == 0

    pages = [await list_entries(boe, page=n, per_page=2) for n in (1, 2, 3)]
    assert [len(p.entries) for p in pages] == [2, 2, 1]
    assert pages[0].total == 5 and pages[0].pages == 3
    assert pages[2].entries[0].action == "old.entry"
    assert (await list_entries(boe, JournalFilters(agent_id=12345))).total == 0


def test_the_module_offers_no_update_or_delete() -> None:
    public = {name for name in vars(journal) if not name.startswith("_")}
    assert not {n for n in public if any(w in n for w in ("update", "delete", "remove", "edit"))}
    source = inspect.getsource(journal)
    assert "JournalEntry.update" not in source and "JournalEntry.delete" not in source


async def test_postgresql_refuses_updates_and_deletes(
    communes: dict[str, CommuneContext], clean_db: db.Engine
) -> None:
    if clean_db.engine_type != "postgres":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    async with transaction():
        await record("agents.create", Actor.command_line(), commune_id=communes["boe"].id)
    with pytest.raises(Exception, match="append-only"):
        async with transaction():
            await JournalEntry.update({JournalEntry.action: "forged"}, force=True)
    with pytest.raises(Exception, match="append-only"):
        async with transaction():
            await JournalEntry.delete(force=True)
    assert [e.action for e in (await list_entries(None)).entries] == ["agents.create"]
