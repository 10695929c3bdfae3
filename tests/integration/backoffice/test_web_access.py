"""Signing in to the back office through its pages, and who may open what."""

from __future__ import annotations

import pyotp
import pytest
from litestar import Litestar

from core.backoffice.roles import PERMISSIONS
from core.backoffice.tables import ADMINISTRATEUR, GESTIONNAIRE, LECTEUR, SUPERVISEUR
from core.backoffice.web.access import agent_guard
from tests.integration.backoffice.web import (
    agent_login,
    create_web_agent,
    enrol_totp,
    signed_in_agent,
)
from tests.integration.conftest import Portal

# Back-office routes anyone may open: the steps of signing in.
PUBLIC_BACKOFFICE_ROUTES = {
    "/{slug:str}/gestion/connexion",
    "/{slug:str}/gestion/verification",
    "/{slug:str}/gestion/double-authentification",
    "/{slug:str}/gestion/deconnexion",
    "/{slug:str}/gestion/mot-de-passe/{token:str}",
}


def test_every_backoffice_route_is_guarded_and_names_a_permission(app: Litestar) -> None:
    found = 0
    for route in app.routes:
        if "/gestion" not in route.path or route.path in PUBLIC_BACKOFFICE_ROUTES:
            continue
        for handler in route.route_handlers:  # type: ignore[union-attr]
            if set(handler.http_methods) == {"OPTIONS"}:  # Litestar's own, for CORS
                continue
            found += 1
            assert agent_guard in handler.resolve_guards(), route.path
            assert handler.opt.get("permission") in PERMISSIONS, route.path
    assert found >= 1


async def test_a_gestionnaire_signs_in_and_sees_the_dashboard(portal: Portal) -> None:
    assert (await portal.client.get("/boe/gestion/", follow_redirects=False)).headers[
        "location"
    ] == "/boe/gestion/connexion"
    await create_web_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    page = await portal.client.get("/boe/gestion/connexion?info=password_set")
    assert "Votre mot de passe est enregistré" in page.text
    response = await agent_login(portal, "boe", "gestion@boe.test")
    assert response.headers["location"] == "/boe/gestion/"
    dashboard = await portal.client.get("/boe/gestion/")
    assert dashboard.status_code == 200
    assert dashboard.headers["cache-control"] == "no-store"
    assert "<h1>Tableau de bord</h1>" in dashboard.text
    assert "Paiements à examiner" in dashboard.text
    assert "gestionnaire" in dashboard.text
    # Agents whose role does not require it may still enrol a second factor.
    assert 'href="/boe/gestion/double-authentification">Activer la double authentification' in (
        dashboard.text
    )
    # The parents' pages do not know the agent.
    home = await portal.client.get("/boe/factures", follow_redirects=False)
    assert home.headers["location"] == "/boe/connexion"


async def test_a_wrong_password_is_refused_with_a_message(portal: Portal) -> None:
    await create_web_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    response = await portal.post_form(
        "/boe/gestion/connexion", {"email": "gestion@boe.test", "password": "pas le bon"}
    )
    assert response.status_code == 422
    assert "Adresse de messagerie ou mot de passe incorrect." in response.text
    assert (await portal.client.get("/boe/gestion/", follow_redirects=False)).status_code == 303


async def test_an_agent_of_another_commune_is_sent_to_the_login(portal: Portal) -> None:
    await signed_in_agent(portal, "aure", "gestion@aure.test", GESTIONNAIRE)
    assert (await portal.client.get("/aure/gestion/")).status_code == 200
    # The cookie's path is Aure's back office; and Boé's server check refuses it anyway.
    cookie = portal.client.cookies.get("portail_gestion", path="/aure/gestion/")
    assert cookie
    portal.client.cookies.set(
        "portail_gestion", cookie, domain="portail.test", path="/boe/gestion/"
    )
    response = await portal.client.get("/boe/gestion/", follow_redirects=False)
    assert response.headers["location"] == "/boe/gestion/connexion"


async def test_an_administrator_must_enrol_totp_then_gives_it_at_each_login(
    portal: Portal,
) -> None:
    await create_web_agent(portal, "boe", "admin@boe.test", ADMINISTRATEUR)
    response = await agent_login(portal, "boe", "admin@boe.test")
    assert response.headers["location"] == "/boe/gestion/double-authentification"
    # No page of the back office opens before the enrolment.
    blocked = await portal.client.get("/boe/gestion/", follow_redirects=False)
    assert blocked.headers["location"] == "/boe/gestion/double-authentification"
    enrolment = await portal.client.get("/boe/gestion/double-authentification")
    assert "<svg" in enrolment.text and "no-store" in enrolment.headers["cache-control"]
    authenticator, codes = await enrol_totp(portal, "boe")
    assert len(codes) == 10
    assert (await portal.client.get("/boe/gestion/")).status_code == 200

    await portal.post_form("/boe/gestion/deconnexion", {}, form_page="/boe/gestion/")
    assert (await portal.client.get("/boe/gestion/", follow_redirects=False)).status_code == 303
    response = await agent_login(portal, "boe", "admin@boe.test")
    assert response.headers["location"] == "/boe/gestion/verification"
    assert (await portal.client.get("/boe/gestion/", follow_redirects=False)).headers[
        "location"
    ] == "/boe/gestion/verification"
    wrong = await portal.post_form("/boe/gestion/verification", {"code": "000000"})
    assert wrong.status_code == 422 and "field__error" in wrong.text
    # The code of the enrolment's time step is used: a recovery code opens the session.
    response = await portal.post_form("/boe/gestion/verification", {"code": codes[0]})
    assert response.headers["location"] == "/boe/gestion/"
    assert (await portal.client.get("/boe/gestion/")).status_code == 200
    assert isinstance(authenticator, pyotp.TOTP)


async def test_a_superviseur_works_in_every_commune(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "superviseur@portail.test", SUPERVISEUR)
    assert (await portal.client.get("/boe/gestion/")).status_code == 200
    response = await agent_login(portal, "aure", "superviseur@portail.test")
    assert response.headers["location"] == "/aure/gestion/verification"


@pytest.mark.parametrize("role", [LECTEUR, GESTIONNAIRE])
async def test_the_set_password_link_works_once(portal: Portal, role: str) -> None:
    await create_web_agent(portal, "boe", "agent@boe.test", role)
    from tests.integration.backoffice.conftest import last_link_to

    link = await last_link_to("agent@boe.test")
    page = await portal.client.get(link)
    assert page.status_code == 410
    assert "Ce lien n’est plus valable" in page.text
