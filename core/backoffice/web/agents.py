"""Agents: an administrator lists the commune's agents, invites one, sends a new password link,
disables or enables an agent, and resets an agent's second factor. The services check who may
act on whom (never on oneself): their `NotAllowed` message is shown with a 403."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from core.backoffice import agents, totp
from core.backoffice.identity import NotAllowed, list_agents
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, backoffice_root, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import Problems, form_fields

SECTION = "agents"
TEMPLATE = "backoffice/agents.html"
FORM_FIELDS = ("email", "display_name", "role")


async def agents_page(
    request: Request[Any, Any, Any],
    commune: CommuneContext,
    agent: SignedInAgent,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return backoffice_page(
        request,
        commune,
        agent,
        TEMPLATE,
        agents=await list_agents(commune.id),
        roles=agents.COMMUNE_ROLES,
        errors=errors or {},
        values=values or {"role": agents.GESTIONNAIRE},
        agents_url=backoffice_root(commune) + SECTION,
        status_code=status_code,
    )


class AgentController(BackofficeController):
    path = "/{slug:str}/gestion/agents"

    @get("/", name="backoffice_agents", opt=permission("agents.manage"))
    async def show_agents(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        return await agents_page(request, commune, agent)

    @post("/", opt=permission("agents.manage"))
    async def invite_agent(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        mailer: Mailer,
    ) -> Response[Any]:
        form = await form_fields(request)
        values = {name: form.get(name, "") for name in FORM_FIELDS}
        try:
            await agents.invite_agent(
                agent.agent,
                commune,
                values["email"],
                values["role"],
                values["display_name"],
                mailer,
                client_address(request, settings),
            )
        except Problems as exc:
            return await agents_page(
                request, commune, agent, errors=exc.errors, values=values, status_code=422
            )
        except NotAllowed as exc:
            return await _refused(request, commune, agent, exc)
        return _back(commune, "agent_invited")

    @post("/{agent_id:int}/lien", opt=permission("agents.manage"))
    async def send_link(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        mailer: Mailer,
        agent_id: int,
    ) -> Response[Any]:
        ip = client_address(request, settings)
        return await _act(
            request,
            commune,
            agent,
            lambda: agents.send_password_link(agent.agent, agent_id, commune, mailer, ip),
            "agent_link_sent",
        )

    @post("/{agent_id:int}/desactiver", opt=permission("agents.manage"))
    async def disable_agent(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        agent_id: int,
    ) -> Response[Any]:
        ip = client_address(request, settings)
        return await _act(
            request,
            commune,
            agent,
            lambda: agents.disable_agent(agent.agent, agent_id, commune.id, ip),
            "agent_disabled",
        )

    @post("/{agent_id:int}/reactiver", opt=permission("agents.manage"))
    async def enable_agent(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        agent_id: int,
    ) -> Response[Any]:
        ip = client_address(request, settings)
        return await _act(
            request,
            commune,
            agent,
            lambda: agents.enable_agent(agent.agent, agent_id, commune.id, ip),
            "agent_enabled",
        )

    @post("/{agent_id:int}/double-authentification", opt=permission("agents.manage"))
    async def reset_totp(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        agent_id: int,
    ) -> Response[Any]:
        ip = client_address(request, settings)
        return await _act(
            request,
            commune,
            agent,
            lambda: totp.reset_totp(agent.agent, agent_id, commune.id, ip),
            "agent_totp_reset",
        )


async def _act(
    request: Request[Any, Any, Any],
    commune: CommuneContext,
    agent: SignedInAgent,
    action: Callable[[], Awaitable[Any]],
    info: str,
) -> Response[Any]:
    """Run a service's action on an agent: back to the list, or its refusal shown there."""
    try:
        await action()
    except NotAllowed as exc:
        return await _refused(request, commune, agent, exc)
    return _back(commune, info)


async def _refused(
    request: Request[Any, Any, Any], commune: CommuneContext, agent: SignedInAgent, exc: Exception
) -> Template:
    return await agents_page(request, commune, agent, errors={"form": [str(exc)]}, status_code=403)


def _back(commune: CommuneContext, info: str) -> Response[Any]:
    return Redirect(path=f"{backoffice_root(commune)}{SECTION}?info={info}", status_code=303)
