"""Journal: entries newest first with their French label and before/after, the filters (agent,
kind of action, dates), pagination; read only. And the `payer_facts` hook."""

from __future__ import annotations

import datetime as dt

from litestar import Litestar

from core.accounts.names import search_name
from core.backoffice.journal import Actor, record
from core.backoffice.tables import Agent
from core.db import transaction
from tests.integration.backoffice.web import commune_of, signed_in_agent
from tests.integration.conftest import Portal, add_payer, sign_in

JOURNAL = "/boe/gestion/journal"


async def test_entries_labels_changes_and_filters(portal: Portal) -> None:
    payer_id = await add_payer("boe", "J1", "Famille J", "j@example.org")
    await signed_in_agent(portal, "boe", "gestion@boe.test", "gestionnaire")
    family = f"/boe/gestion/familles/{payer_id}"
    await portal.post_form(f"{family}/activation", {"email": "j@example.org"}, form_page=family)
    portal.client.cookies.clear()
    await signed_in_agent(portal, "boe", "admin@boe.test", "administrateur")
    aure = commune_of(portal, "aure")
    async with transaction():
        await record("payments.suspend", Actor.command_line(), commune_id=aure.id, target="AURE")

    page = await portal.client.get(JOURNAL)
    assert page.status_code == 200
    text = page.text
    assert "E-mail d’activation renvoyé" in text  # the catalogue's label
    assert "<code>account</code> : none → pending" in text  # the readable difference
    assert "Agent créé" in text and "Connexion d’un agent" in text
    assert "AURE" not in text  # another commune's entry
    # Newest first: the administrator's login comes before the gestionnaire's action.
    assert text.index("Connexion d’un agent") < text.index("E-mail d’activation renvoyé")

    gestion = await Agent.select(Agent.id).where(Agent.email == "gestion@boe.test").first()
    assert gestion is not None
    by_agent = await portal.client.get(JOURNAL, params={"agent": str(gestion["id"])})
    assert "E-mail d’activation renvoyé" in by_agent.text
    assert "admin@boe.test" not in by_agent.text.split("<tbody>")[1]
    families = await portal.client.get(JOURNAL, params={"action": "families"})
    assert "E-mail d’activation renvoyé" in families.text
    assert "Connexion d’un agent" not in families.text and "1 entrée." in families.text
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    future = await portal.client.get(JOURNAL, params={"from": tomorrow})
    assert "Aucune entrée." in future.text
    today = await portal.client.get(
        JOURNAL, params={"from": "2020-01-01", "to": tomorrow, "action": "families"}
    )
    assert "1 entrée." in today.text
    bad = await portal.client.get(JOURNAL, params={"from": "31/02/2026"})
    assert bad.status_code == 422
    assert "<title>Erreur – Journal" in bad.text and "Saisissez une date valide" in bad.text
    # Read only: no route changes the journal.
    assert (await portal.client.post(JOURNAL)).status_code in (403, 405)


async def test_the_journal_is_paginated(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "admin@boe.test", "administrateur")
    boe = commune_of(portal, "boe")
    async with transaction():
        for n in range(60):
            await record("payments.resume", Actor.command_line(), commune_id=boe.id, target=f"R{n}")
    first = await portal.client.get(JOURNAL, params={"action": "payments"})
    assert "60 entrées." in first.text and "Page 1 sur 2" in first.text
    assert "page=2" in first.text and "action=payments" in first.text
    second = await portal.client.get(JOURNAL, params={"action": "payments", "page": "2"})
    assert ">R0<" in second.text and ">R59<" not in second.text


async def test_hook_payer_facts(app: Litestar, portal: Portal) -> None:
    payer_id = await sign_in(portal, email="claire@example.org", ref="H1")
    communes = app.state.portal.communes
    boe = communes["boe"]
    (pending,) = boe.hooks.payer_facts(commune=boe, payer_id=payer_id)
    assert await pending == [("Factures papier", "reçues au format papier (choix par défaut)")]
    await portal.post_form("/boe/papier", {"paper_optout": "1"})
    (pending,) = boe.hooks.payer_facts(commune=boe, payer_id=payer_id)
    ((label, value),) = await pending
    assert label == "Factures papier"
    assert value.startswith("ne plus recevoir les factures papier (demandé le ")
    aure = communes["aure"]  # paper_optout is off there: no plugin answers
    assert aure.hooks.payer_facts(commune=aure, payer_id=payer_id) == []


def test_search_name() -> None:
    assert search_name("  MARTIN   Clément ") == "martin clement"
    assert search_name("Lefèvre-Dubois (Zoé)") == "lefevre dubois zoe"
    assert search_name("Œuvre ÇA") == "œuvre ca"
    assert search_name("") == ""
    assert search_name("Famille Martin") == "martin"
    assert search_name("M. et Mme MARTIN") == "martin"
    assert search_name("Famille") == "famille"
