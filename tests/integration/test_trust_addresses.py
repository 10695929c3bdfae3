"""Every address a person types is checked by one helper (issue 11, item 17): each form refuses
what is not an address with the French message, keeps what was typed and stores nothing."""

from __future__ import annotations

import pytest

from core.accounts.tables import AccountToken
from core.alert_addresses.tables import AlertAddress
from core.backoffice.tables import Agent
from core.contact.tables import ContactMessage
from core.mail.tables import OutboundEmail
from tests.integration.backoffice.web import signed_in_agent
from tests.integration.conftest import GOOD_PASSWORD, Portal, sign_in

INVALID = "Veuillez saisir une adresse de messagerie valide"
BAD_ADDRESSES = [
    "someone@example.com/../../etc/passwd",
    "claire martin@example.org",
    "claire@",
    "claire@localhost",
]


@pytest.mark.parametrize("typed", BAD_ADDRESSES)
@pytest.mark.parametrize("path", ["/boe/activation", "/boe/mot-de-passe-oublie"])
async def test_link_requests_refuse_what_is_not_an_address(
    portal: Portal, path: str, typed: str
) -> None:
    response = await portal.post_form(path, {"email": typed})
    assert response.status_code == 422
    assert INVALID in response.text and f'value="{typed}"' in response.text
    assert await OutboundEmail.count() == 0


@pytest.mark.parametrize("typed", BAD_ADDRESSES)
async def test_parents_forms_refuse_what_is_not_an_address(portal: Portal, typed: str) -> None:
    await sign_in(portal)
    await portal.deliver()
    sent_before = await OutboundEmail.count()

    change = await portal.post_form(
        "/boe/mes-informations/adresse",
        {"new_email": typed, "password": GOOD_PASSWORD},
        form_page="/boe/mes-informations",
    )
    assert change.status_code == 422
    assert INVALID in change.text and f'value="{typed}"' in change.text
    assert await AccountToken.count().where(AccountToken.purpose == "email_change") == 0

    alert = await portal.post_form(
        "/boe/mes-informations/alertes",
        {"alert_email": typed},
        form_page="/boe/mes-informations",
    )
    assert alert.status_code == 422
    assert INVALID in alert.text and f'value="{typed}"' in alert.text
    assert await AlertAddress.count() == 0

    contact = await portal.post_form(
        "/boe/contact", {"name": "Claire", "email": typed, "message": "Bonjour"}
    )
    assert contact.status_code == 422
    assert INVALID in contact.text and f'value="{typed}"' in contact.text
    assert "Bonjour" in contact.text
    assert await ContactMessage.count() == 0
    assert await OutboundEmail.count() == sent_before


async def test_an_internationalised_domain_is_one_address_however_typed(portal: Portal) -> None:
    await sign_in(portal)
    added = await portal.post_form(
        "/boe/mes-informations/alertes",
        {"alert_email": " Papa@EXÄMPLE.fr "},
        form_page="/boe/mes-informations",
    )
    assert added.status_code == 303
    assert await AlertAddress.select(AlertAddress.email).output(as_list=True) == ["papa@exämple.fr"]
    again = await portal.post_form(
        "/boe/mes-informations/alertes",
        {"alert_email": "papa@xn--exmple-cua.fr"},
        form_page="/boe/mes-informations",
    )
    assert again.status_code == 422  # the same address, already listed
    assert await AlertAddress.count() == 1


@pytest.mark.parametrize("typed", BAD_ADDRESSES)
async def test_the_agents_form_refuses_what_is_not_an_address(portal: Portal, typed: str) -> None:
    await signed_in_agent(portal, "boe", "admin@boe.test", "administrateur")
    response = await portal.post_form(
        "/boe/gestion/agents", {"email": typed, "role": "gestionnaire"}
    )
    assert response.status_code == 422
    assert INVALID in response.text and f'value="{typed}"' in response.text
    assert await Agent.count() == 1
