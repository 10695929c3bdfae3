"""Suspending online payment per régie or per commune; the text parents read; the journal."""

from __future__ import annotations

import pytest

from core.backoffice.identity import NotAllowed
from core.backoffice.journal import list_entries
from core.backoffice.suspension import (
    default_message,
    is_suspended,
    list_suspensions,
    resume,
    suspend,
    suspensions_for,
)
from core.backoffice.tables import PaymentSuspension
from core.communes.context import CommuneContext
from core.communes.tables import Regie
from core.db import transaction
from core.mail.mailer import Mailer
from core.web.forms import Problems
from tests.integration.backoffice.conftest import make_agent


async def test_suspend_and_resume(communes: dict[str, CommuneContext], mailer: Mailer) -> None:
    boe = communes["boe"]
    admin = await make_agent(boe, mailer, "admin@boe.test", "administrateur")
    async with transaction():
        await Regie.insert(Regie(commune=boe.id, code="PERI", name="Périscolaire"))
    assert await suspensions_for(boe.id) == {}
    assert await is_suspended(boe.id, "CANT") is None

    await suspend(boe.id, "CANT", "  Changement de régisseur.  ", admin, "192.0.2.1")
    assert await suspensions_for(boe.id) == {"CANT": "Changement de régisseur."}
    assert await is_suspended(boe.id, "CANT") == "Changement de régisseur."
    assert await is_suspended(boe.id, "PERI") is None

    await suspend(boe.id, None, "", admin)  # the whole commune, default text
    assert await is_suspended(boe.id, "PERI") == default_message()
    assert await is_suspended(boe.id, "CANT") == "Changement de régisseur."  # its own text
    await suspend(boe.id, "CANT", "Nouveau texte", admin)  # one row per régie: updated
    await suspend(boe.id, "CANT", "Nouveau texte", admin)  # unchanged: nothing journalled
    assert await PaymentSuspension.count() == 2
    assert [s.regie_code for s in await list_suspensions(boe.id)] == [None, "CANT"]

    assert await resume(boe.id, None, admin)
    assert not await resume(boe.id, None, admin)
    assert await suspensions_for(boe.id) == {"CANT": "Nouveau texte"}
    assert await resume(boe.id, "CANT", admin)
    assert await suspensions_for(boe.id) == {}

    entries = (await list_entries(boe.id)).entries
    changes = [(e.action, e.target, e.before, e.after) for e in entries if "payments" in e.action]
    assert changes == [
        ("payments.resume", "régie CANT", {"message": "Nouveau texte"}, None),
        ("payments.resume", "toute la commune", {"message": ""}, None),
        (
            "payments.suspend",
            "régie CANT",
            {"message": "Changement de régisseur."},
            {"message": "Nouveau texte"},
        ),
        ("payments.suspend", "toute la commune", None, {"message": ""}),
        ("payments.suspend", "régie CANT", None, {"message": "Changement de régisseur."}),
    ]


async def test_refusals(communes: dict[str, CommuneContext], mailer: Mailer) -> None:
    boe, aure = communes["boe"], communes["aure"]
    admin = await make_agent(boe, mailer, "admin@boe.test", "administrateur")
    reader = await make_agent(boe, mailer, "l@boe.test", "lecteur")
    with pytest.raises(NotAllowed):
        await suspend(boe.id, None, "", reader)
    with pytest.raises(NotAllowed):
        await suspend(aure.id, None, "", admin)
    with pytest.raises(Problems) as unknown:
        await suspend(boe.id, "NOPE", "", admin)
    assert unknown.value.errors == {"regie": ["Régie « NOPE » inconnue."]}
    with pytest.raises(Problems):
        await suspend(boe.id, None, "x" * 1001, admin)
    assert await PaymentSuspension.count() == 0
