"""Familles: the search (name prefix without accents, reference, address), a family's page,
scoped to the commune, and the actions on its accounts (activation e-mail, disable, enable)."""

from __future__ import annotations

import json

from litestar import Litestar

from core.accounts.tables import Account, Payer
from core.backoffice.tables import JournalEntry
from core.mail.tables import OutboundEmail
from core.web.formatting import money
from tests.integration.backoffice.web import signed_in_agent
from tests.integration.conftest import GOOD_PASSWORD, Portal, add_invoice, add_payer, sign_in

FAMILIES = "/boe/gestion/familles"


async def test_search_by_name_prefix_reference_and_address(portal: Portal) -> None:
    martin = await add_payer("boe", "R-100", "MARTIN Clément", "c.martin@example.org")
    await add_payer("boe", "R-101", "Martínez Élise", "elise@example.org")
    await add_payer("boe", "R-102", "DUPONT Anne", "anne@example.org")
    await add_payer("aure", "R-100", "MARTIN Aure", "aure@example.org")
    await signed_in_agent(portal, "boe", "lecteur@boe.test", "lecteur")

    page = await portal.client.get(FAMILIES, params={"q": "mart"})
    assert page.status_code == 200
    assert "MARTIN Clément" in page.text and "Martínez Élise" in page.text
    assert "DUPONT" not in page.text and "MARTIN Aure" not in page.text  # another commune
    assert "2 familles trouvées." in page.text
    # Accents and case do not matter; it is a prefix of the whole name.
    accented = await portal.client.get(FAMILIES, params={"q": "MARTÍN"})
    assert "MARTIN Clément" in accented.text and "Martínez" in accented.text
    assert "Élise" in (await portal.client.get(FAMILIES, params={"q": "martinez e"})).text
    assert "Aucune famille" in (await portal.client.get(FAMILIES, params={"q": "lise"})).text
    # "Famille" and civilities before the name are left out, of the query too.
    await add_payer("boe", "R-103", "Famille Leroy", "leroy@example.org")
    for query in ("Leroy", "famille ler", "M. LER"):
        assert "Famille Leroy" in (await portal.client.get(FAMILIES, params={"q": query})).text
    # A reference, exactly.
    by_ref = await portal.client.get(FAMILIES, params={"q": "R-102"})
    assert "DUPONT Anne" in by_ref.text and "MARTIN Clément" not in by_ref.text
    # An address, exactly (case and spaces aside).
    by_email = await portal.client.get(FAMILIES, params={"q": " C.Martin@Example.org "})
    assert f'href="{FAMILIES}/{martin}"' in by_email.text
    assert "Martínez" not in by_email.text
    # htmx gets the results alone.
    fragment = await portal.client.get(
        FAMILIES,
        params={"q": "mart"},
        headers={"hx-request": "true", "hx-target": "family-results"},
    )
    assert fragment.text.lstrip().startswith('<div id="family-results">')


async def test_results_are_paginated(portal: Portal) -> None:
    for n in range(55):
        await add_payer("boe", f"P{n:03}", f"Bernard {n:03}", f"b{n}@example.org")
    await signed_in_agent(portal, "boe", "lecteur@boe.test", "lecteur")
    first = await portal.client.get(FAMILIES, params={"q": "bernard"})
    assert "55 familles trouvées." in first.text
    assert "Bernard 049" in first.text and "Bernard 050" not in first.text
    second = await portal.client.get(FAMILIES, params={"q": "bernard", "page": "2"})
    assert "Bernard 050" in second.text and "Page 2 sur 2" in second.text


async def test_a_family_page_shows_invoices_accounts_and_facts(portal: Portal) -> None:
    payer_id = await sign_in(portal, email="claire@example.org", ref="F1")
    await add_invoice("boe", payer_id, "2026-000777", amount=24311, paid=11)
    other = await add_payer("aure", "A1", "Famille Aure", "aure@example.org")
    await signed_in_agent(portal, "boe", "lecteur@boe.test", "lecteur")

    page = await portal.client.get(f"{FAMILIES}/{payer_id}")
    assert page.status_code == 200
    assert "<h1>Famille F1</h1>" in page.text
    assert "claire@example.org" in page.text and "Actif" in page.text
    assert "2026-000777" in page.text and money(24311) in page.text and money(24300) in page.text
    # The paper_optout plugin's fact (enabled in Boé).
    assert "Factures papier" in page.text
    # A lecteur reads but has no action buttons that would be refused... the routes say so.
    refused = await portal.post_form(
        f"{FAMILIES}/{payer_id}/desactiver", {"account_id": "1"}, form_page=f"{FAMILIES}/{payer_id}"
    )
    assert refused.status_code == 403
    # Another commune's payer does not exist here.
    assert (await portal.client.get(f"{FAMILIES}/{other}")).status_code == 404
    assert (await portal.client.get(f"{FAMILIES}/999999")).status_code == 404


async def test_resend_activation_to_an_address_without_account(portal: Portal) -> None:
    payer_id = await add_payer("boe", "F2", "Famille Deux", "deux@example.org")
    await signed_in_agent(portal, "boe", "gestion@boe.test", "gestionnaire")
    page = f"{FAMILIES}/{payer_id}"
    assert "Aucun compte" in (await portal.client.get(page)).text

    response = await portal.post_form(
        f"{page}/activation", {"email": "deux@example.org"}, form_page=page
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{page}?info=activation_resent"
    assert "En attente d’activation" in (await portal.client.get(page)).text
    link = await portal.link_in_mail("deux@example.org", "Accès au portail")
    assert "/boe/activation/" in link
    # The link is the parents' activation: it works.
    done = await portal.post_form(link, {"password": GOOD_PASSWORD, "confirmation": GOOD_PASSWORD})
    assert done.status_code == 303
    entry = (
        await JournalEntry.select()
        .where(JournalEntry.action == "families.activation_resent")
        .first()
    )
    assert entry is not None and entry["target"] == "deux@example.org"
    assert json.loads(entry["before"]) == {"account": "none"}
    # Not to an address the payer does not have, nor to an active account.
    other = await portal.post_form(f"{page}/activation", {"email": "x@example.org"}, form_page=page)
    assert other.status_code == 404
    active = await portal.post_form(
        f"{page}/activation", {"email": "deux@example.org"}, form_page=page
    )
    assert active.status_code == 404


async def test_disable_ends_the_session_and_refuses_login_then_enable(
    app: Litestar, portal: Portal
) -> None:
    payer_id = await sign_in(portal, email="claire@example.org", ref="F3")
    assert (await portal.client.get("/boe/factures")).status_code == 200  # the parent is in
    account = await Account.select(Account.id).where(Account.email == "claire@example.org").first()
    assert account is not None
    await signed_in_agent(portal, "boe", "gestion@boe.test", "gestionnaire")
    page = f"{FAMILIES}/{payer_id}"

    response = await portal.post_form(
        f"{page}/desactiver", {"account_id": str(account["id"])}, form_page=page
    )
    assert response.headers["location"] == f"{page}?info=account_disabled"
    shown = await portal.client.get(response.headers["location"])
    assert "Désactivé" in shown.text and "Réactiver le compte" in shown.text
    # The parent's session ended; the login is refused with the usual neutral message.
    assert (await portal.client.get("/boe/factures", follow_redirects=False)).status_code == 303
    login = await portal.login("boe", "claire@example.org", GOOD_PASSWORD)
    assert login.status_code == 422
    assert "incorrect" in login.text
    entry = (
        await JournalEntry.select().where(JournalEntry.action == "families.account_disable").first()
    )
    assert entry is not None
    assert json.loads(entry["before"]) == {"state": "active"}
    assert json.loads(entry["after"]) == {"state": "disabled"}

    again = await portal.post_form(
        f"{page}/reactiver", {"account_id": str(account["id"])}, form_page=page
    )
    assert again.headers["location"] == f"{page}?info=account_enabled"
    assert (await portal.login("boe", "claire@example.org", GOOD_PASSWORD)).status_code == 303
    # An account of another family is not this family's business.
    stranger = await sign_in(portal, email="autre@example.org", ref="F4")
    assert stranger
    other = await Account.select(Account.id).where(Account.email == "autre@example.org").first()
    assert other is not None
    refused = await portal.post_form(
        f"{page}/desactiver", {"account_id": str(other["id"])}, form_page=page
    )
    assert refused.status_code == 404


async def test_the_importer_and_the_migration_fill_the_search_name(portal: Portal) -> None:
    payer_id = await add_payer("boe", "F5", "Lefèvre-Dubois Zoé", "zoe@example.org")
    row = await Payer.select(Payer.search_name).where(Payer.id == payer_id).first()
    assert row == {"search_name": "lefevre dubois zoe"}
    assert await OutboundEmail.count() == 0
