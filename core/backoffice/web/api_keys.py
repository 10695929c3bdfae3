"""Clés d'API (administrators): the commune's keys, a new one shown once, revoking one.

- `GET /<commune>/gestion/cles-api`: the keys, active and revoked, and the creation form.
- `POST /<commune>/gestion/cles-api`: creates a key and answers the page showing it, once
  (`Cache-Control: no-store`; only its hash is kept).
- `POST /<commune>/gestion/cles-api/<id>/revoquer`: revokes it, for good.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from core.backoffice.api_keys import create_api_key, list_api_keys, revoke_api_key
from core.backoffice.identity import NotAllowed
from core.backoffice.sessions import SignedInAgent
from core.backoffice.tables import Agent
from core.backoffice.web.access import (
    BackofficeController,
    NotPermitted,
    backoffice_root,
    permission,
)
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import Problems, form_fields

TEMPLATE = "backoffice/api_keys.html"


async def agent_names(ids: set[int]) -> dict[int, str]:
    """Agents' names (or addresses) by id, for the "created by" column."""
    if not ids:
        return {}
    rows = await Agent.select(Agent.id, Agent.display_name, Agent.email).where(
        Agent.id.is_in(list(ids))
    )
    return {row["id"]: row["display_name"] or row["email"] for row in rows}


class ApiKeyController(BackofficeController):
    path = "/{slug:str}/gestion/cles-api"

    @get("/", name="backoffice_api_keys", opt=permission("api_keys.manage"))
    async def show_keys(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        return await self._page(request, commune, agent)

    @post("/", opt=permission("api_keys.manage"), status_code=200)
    async def create_key(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, settings: Settings
    ) -> Template:
        form = await form_fields(request)
        label = form.get("label", "")
        try:
            key, plain = await create_api_key(
                commune.id, label, agent.agent, client_address(request, settings)
            )
        except NotAllowed as exc:
            raise NotPermitted() from exc
        except Problems as problems:
            return await self._page(
                request,
                commune,
                agent,
                errors=problems.errors,
                values={"label": label},
                status_code=422,
            )
        response = await self._page(request, commune, agent, new_key=key, plain_key=plain)
        response.headers["Cache-Control"] = "no-store"
        return response

    @post("/{key_id:int}/revoquer", opt=permission("api_keys.manage"), status_code=303)
    async def revoke_key(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        key_id: int,
    ) -> Redirect:
        try:
            revoked = await revoke_api_key(
                commune.id, key_id, agent.agent, client_address(request, settings)
            )
        except NotAllowed as exc:
            raise NotPermitted() from exc
        if not revoked:
            raise NotFoundException()
        return Redirect(path=_keys_url(commune) + "?info=api_key_revoked", status_code=303)

    async def _page(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Template:
        keys = await list_api_keys(commune.id)
        names = await agent_names({key.created_by for key in keys if key.created_by is not None})
        return backoffice_page(
            request,
            commune,
            agent,
            TEMPLATE,
            status_code=status_code,
            keys=keys,
            names=names,
            keys_url=_keys_url(commune),
            api_url=f"{request.base_url}".rstrip("/") + commune.url("api/imports"),
            **{"new_key": None, "plain_key": None, **context},
        )


def _keys_url(commune: CommuneContext) -> str:
    return backoffice_root(commune) + "cles-api"
