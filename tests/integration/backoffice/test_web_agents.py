"""Agents: an administrator invites an agent (who sets a password and signs in), sends a new
link, disables and enables an agent, resets an agent's second factor; never on itself; other
roles get 403."""

from __future__ import annotations

from core.backoffice.tables import Agent, AgentSession
from tests.integration.backoffice.conftest import last_link_to
from tests.integration.backoffice.web import (
    agent_login,
    create_web_agent,
    enrol_totp,
    signed_in_agent,
)
from tests.integration.conftest import GOOD_PASSWORD, Portal

AGENTS = "/boe/gestion/agents"


async def agent_id(email: str) -> int:
    row = await Agent.select(Agent.id).where(Agent.email == email).first()
    assert row is not None
    return int(row["id"])


async def test_invite_an_agent_who_sets_a_password_and_signs_in(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "admin@boe.test", "administrateur")
    page = await portal.client.get(AGENTS)
    assert page.status_code == 200
    assert "admin@boe.test" in page.text and "(vous)" in page.text

    bad = await portal.post_form(AGENTS, {"email": "pas une adresse", "role": "gestionnaire"})
    assert bad.status_code == 422
    assert "<title>Erreur – Agents" in bad.text
    assert 'aria-invalid="true"' in bad.text and "pas une adresse" in bad.text
    wrong_role = await portal.post_form(AGENTS, {"email": "x@boe.test", "role": "superviseur"})
    assert wrong_role.status_code == 422 and "Ce rôle n’existe pas." in wrong_role.text

    response = await portal.post_form(
        AGENTS, {"email": "Nouvel@Boe.test", "display_name": "Nouvel Agent", "role": "lecteur"}
    )
    assert response.headers["location"] == f"{AGENTS}?info=agent_invited"
    listed = await portal.client.get(response.headers["location"])
    assert "nouvel@boe.test" in listed.text and "Mot de passe à choisir" in listed.text

    # The invited agent sets the password from the e-mail, in a browser of its own.
    link = await last_link_to("nouvel@boe.test")
    portal.client.cookies.clear()
    done = await portal.post_form(link, {"password": GOOD_PASSWORD, "confirmation": GOOD_PASSWORD})
    assert done.status_code == 303
    assert (await agent_login(portal, "boe", "nouvel@boe.test")).status_code == 303
    assert (await portal.client.get("/boe/gestion/")).status_code == 200
    # A lecteur may not manage agents, nor read the journal.
    assert (await portal.client.get(AGENTS)).status_code == 403
    assert (await portal.client.get("/boe/gestion/journal")).status_code == 403


async def test_new_link_disable_enable_and_reset_totp(portal: Portal) -> None:
    await create_web_agent(portal, "boe", "chef@boe.test", "administrateur")
    portal.client.cookies.clear()
    assert (await agent_login(portal, "boe", "chef@boe.test")).status_code == 303
    authenticator, _ = await enrol_totp(portal, "boe")
    assert authenticator
    admin_cookie = dict(portal.client.cookies)

    # The other agent signs in (with TOTP: an administrateur).
    portal.client.cookies.clear()
    await signed_in_agent(portal, "boe", "autre@boe.test", "administrateur")
    other = await agent_id("autre@boe.test")
    assert await AgentSession.count().where(AgentSession.agent == other) >= 1
    portal.client.cookies.clear()
    for name, value in admin_cookie.items():
        portal.client.cookies.set(name, value, domain="portail.test", path="/boe/gestion/")
    page = await portal.client.get(AGENTS)
    assert "Réinitialiser la double authentification" in page.text

    link = await portal.post_form(f"{AGENTS}/{other}/lien", {}, form_page=AGENTS)
    assert link.headers["location"] == f"{AGENTS}?info=agent_link_sent"
    assert "/boe/gestion/mot-de-passe/" in await last_link_to("autre@boe.test")

    reset = await portal.post_form(
        f"{AGENTS}/{other}/double-authentification", {}, form_page=AGENTS
    )
    assert reset.headers["location"] == f"{AGENTS}?info=agent_totp_reset"
    row = await Agent.select(Agent.totp_enabled).where(Agent.id == other).first()
    assert row == {"totp_enabled": False}
    assert await AgentSession.count().where(AgentSession.agent == other) == 0

    disabled = await portal.post_form(f"{AGENTS}/{other}/desactiver", {}, form_page=AGENTS)
    assert disabled.headers["location"] == f"{AGENTS}?info=agent_disabled"
    shown = await portal.client.get(disabled.headers["location"])
    assert "Désactivé" in shown.text and "Réactiver" in shown.text
    enabled = await portal.post_form(f"{AGENTS}/{other}/reactiver", {}, form_page=AGENTS)
    assert enabled.headers["location"] == f"{AGENTS}?info=agent_enabled"
    row = await Agent.select(Agent.disabled_at).where(Agent.id == other).first()
    assert row == {"disabled_at": None}


async def test_an_administrator_cannot_act_on_itself(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "admin@boe.test", "administrateur")
    me = await agent_id("admin@boe.test")
    refused = await portal.post_form(f"{AGENTS}/{me}/desactiver", {}, form_page=AGENTS)
    assert refused.status_code == 403
    assert "Vous n’avez pas les droits nécessaires pour cette action." in refused.text
    assert 'role="alert"' in refused.text
    row = await Agent.select(Agent.disabled_at).where(Agent.id == me).first()
    assert row == {"disabled_at": None}
    # Nor on an agent of another commune.
    await create_web_agent(portal, "aure", "aure@aure.test", "gestionnaire")
    stranger = await agent_id("aure@aure.test")
    portal.client.cookies.clear()
    await signed_in_agent(portal, "boe", "admin2@boe.test", "administrateur")
    assert (
        await portal.post_form(f"{AGENTS}/{stranger}/desactiver", {}, form_page=AGENTS)
    ).status_code == 403


async def test_a_gestionnaire_gets_403_on_agents_and_journal(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", "gestionnaire")
    assert (await portal.client.get(AGENTS)).status_code == 403
    assert (await portal.client.get("/boe/gestion/journal")).status_code == 403
    menu = (await portal.client.get("/boe/gestion/")).text
    assert ">Familles</a>" in menu and ">Inviter les familles</a>" in menu
    assert ">Agents</a>" not in menu and ">Journal</a>" not in menu
