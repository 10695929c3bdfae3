"""Inviter les familles: the counts, one invitation per address sent once, not again within the
commune's delay but again after it, payers with an account skipped, the filters."""

from __future__ import annotations

import datetime as dt
import json

from core.accounts.tables import Account
from core.backoffice.tables import Invitation, JournalEntry
from core.mail.tables import OutboundEmail
from tests.integration.backoffice.web import signed_in_agent
from tests.integration.conftest import GOOD_PASSWORD, Portal, add_invoice, add_payer, sign_in

INVITATIONS = "/boe/gestion/invitations"


async def invite(portal: Portal, **data: str) -> str:
    response = await portal.post_form(INVITATIONS, data)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


async def invitations_to(address: str) -> int:
    return await OutboundEmail.count().where(
        (OutboundEmail.recipient == address)
        & (OutboundEmail.subject == "Votre portail des factures est ouvert")
    )


async def test_invite_once_not_again_within_the_delay_then_again(portal: Portal) -> None:
    await sign_in(portal, email="active@example.org", ref="A0")  # has an account: skipped
    for n in range(3):
        await add_payer("boe", f"I{n}", f"Famille {n}", f"famille{n}@example.org")
    # Two payers sharing an address get one invitation.
    await add_payer("boe", "I9", "Famille 9", "famille0@example.org")
    await add_payer("aure", "X1", "Aure", "aure@example.org")  # another commune
    await signed_in_agent(portal, "boe", "gestion@boe.test", "gestionnaire")

    page = await portal.client.get(INVITATIONS)
    assert page.status_code == 200
    assert "Adresses sans compte" in page.text
    assert '<p class="figure__value">3</p>' in page.text  # famille0..2

    location = await invite(portal)
    assert location == f"{INVITATIONS}?info=invitations_sent&invitees=3&ignorees=0"
    shown = await portal.client.get(location)
    assert "3 invitations envoyées." in shown.text
    for n in range(3):
        assert await invitations_to(f"famille{n}@example.org") == 1
    assert await invitations_to("active@example.org") == 0
    assert await invitations_to("aure@example.org") == 0
    entry = await JournalEntry.select().where(JournalEntry.action == "families.invite").first()
    assert entry is not None and json.loads(entry["after"])["invited"] == 3

    # Within the delay: nobody is invited again.
    assert await invite(portal) == f"{INVITATIONS}?info=invitations_sent&invitees=0&ignorees=3"
    assert await invitations_to("famille0@example.org") == 1
    page = await portal.client.get(INVITATIONS)
    assert "Dont invitées depuis moins de 30 jours" in page.text

    # The link is an activation link: the family activates its account.
    link = await portal.link_in_mail("famille1@example.org", "Votre portail des factures")
    assert "/boe/activation/" in link
    activated = await portal.post_form(
        link, {"password": GOOD_PASSWORD, "confirmation": GOOD_PASSWORD}
    )
    assert activated.status_code == 303
    active = await Account.select(Account.state).where(Account.email == "famille1@example.org")
    assert active == [{"state": "active"}]

    # After the delay: the others are invited again, not the family that activated.
    await Invitation.update({Invitation.sent_at: Invitation.sent_at - dt.timedelta(days=31)}).where(
        Invitation.email.is_not_null()
    )
    assert await invite(portal) == f"{INVITATIONS}?info=invitations_sent&invitees=2&ignorees=0"
    assert await invitations_to("famille0@example.org") == 2
    assert await invitations_to("famille1@example.org") == 1


async def test_filters_by_regie_and_invoices_to_pay(portal: Portal) -> None:
    due = await add_payer("boe", "D1", "Doit", "doit@example.org")
    paid = await add_payer("boe", "D2", "A payé", "paye@example.org")
    await add_payer("boe", "D3", "Sans facture", "sans@example.org")
    await add_invoice("boe", due, regie="CANT")
    await add_invoice("boe", paid, regie="CANT", paid=24311, status="reglee")
    await signed_in_agent(portal, "boe", "gestion@boe.test", "gestionnaire")

    assert await invite(portal, regie="CANT", to_pay_only="1") == (
        f"{INVITATIONS}?info=invitations_sent&invitees=1&ignorees=0"
    )
    assert await invitations_to("doit@example.org") == 1
    assert await invitations_to("paye@example.org") == 0
    assert await invite(portal, regie="CANT") == (
        f"{INVITATIONS}?info=invitations_sent&invitees=1&ignorees=1"
    )
    assert await invitations_to("paye@example.org") == 1
    assert await invitations_to("sans@example.org") == 0

    refused = await portal.post_form(INVITATIONS, {"regie": "NOPE"})
    assert refused.status_code == 422
    assert "Régie « NOPE » inconnue" in refused.text
    assert "<title>Erreur – " in refused.text


async def test_a_few_hundred_addresses_in_one_go(portal: Portal) -> None:
    for n in range(300):
        await add_payer("boe", f"M{n:03}", f"Famille {n:03}", f"m{n}@example.org")
    await signed_in_agent(portal, "boe", "gestion@boe.test", "gestionnaire")
    assert await invite(portal) == f"{INVITATIONS}?info=invitations_sent&invitees=300&ignorees=0"
    assert await Invitation.count() == 300
    assert await Account.count().where(Account.state == "pending") == 300


async def test_a_lecteur_may_not_invite(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "lecteur@boe.test", "lecteur")
    assert (await portal.client.get(INVITATIONS)).status_code == 403
