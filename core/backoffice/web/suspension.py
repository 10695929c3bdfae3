"""Paiement en ligne: whether parents may pay online, for the commune and each régie, and the
forms that suspend it (with the text parents read) or resume it."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from core.backoffice.identity import NotAllowed
from core.backoffice.roles import can
from core.backoffice.sessions import SignedInAgent
from core.backoffice.suspension import default_message, list_suspensions, resume, suspend
from core.backoffice.web.access import BackofficeController, NotPermitted, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.payments.providers import provider_for_regie
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import Problems, form_fields

TEMPLATE = "backoffice/suspension.html"
COMMUNE_KEY = "commune"  # the form's `regie` for a whole-commune suspension


async def _states(commune: CommuneContext) -> list[dict[str, Any]]:
    """The commune, then each régie: its TOML switch, its back-office suspension, its form's
    key (also the fields' id suffix) and whether a payment service pays it at all."""
    suspended = {s.regie_code: s for s in await list_suspensions(commune.id)}
    config = commune.config
    rows = [
        {
            "key": COMMUNE_KEY,
            "code": None,
            "name": None,
            "toml": config.payment_suspended,
            "suspension": suspended.get(None),
            "online": True,
        }
    ]
    for regie in config.regies:
        rows.append(
            {
                "key": regie.code,
                "code": regie.code,
                "name": regie.name,
                "toml": regie.payment_suspended,
                "suspension": suspended.get(regie.code),
                "online": provider_for_regie(commune, regie.code) is not None,
            }
        )
    return rows


def _regie(form: dict[str, str]) -> str | None:
    value = form.get("regie", COMMUNE_KEY)
    return None if value == COMMUNE_KEY else value


class SuspensionController(BackofficeController):
    path = "/{slug:str}/gestion/paiement-en-ligne"

    @get("/", name="backoffice_suspension", opt=permission("payments.read"))
    async def show(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        return await _page(request, commune, agent)

    @post("/suspendre", opt=permission("suspension.write"))
    async def suspend(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
    ) -> Response[Any]:
        form = await form_fields(request)
        regie = _regie(form)
        try:
            await suspend(
                commune.id,
                regie,
                form.get("message", ""),
                agent.agent,
                client_address(request, settings),
            )
        except NotAllowed as exc:
            raise NotPermitted() from exc
        except Problems as problems:
            key = form.get("regie", COMMUNE_KEY)
            # An unknown régie has no form on the page: its message goes on top.
            errors = {
                "form" if name == "regie" else f"{name}-{key}": messages
                for name, messages in problems.errors.items()
            }
            return await _page(request, commune, agent, errors=errors, values=form)
        return Redirect(path=_url(commune, "payment_suspended"), status_code=303)

    @post("/retablir", opt=permission("suspension.write"))
    async def resume(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
    ) -> Response[Any]:
        form = await form_fields(request)
        try:
            resumed = await resume(
                commune.id, _regie(form), agent.agent, client_address(request, settings)
            )
        except NotAllowed as exc:
            raise NotPermitted() from exc
        except Problems as problems:
            return await _page(request, commune, agent, errors={"form": problems.errors["regie"]})
        return Redirect(
            path=_url(commune, "payment_resumed" if resumed else "payment_not_suspended"),
            status_code=303,
        )


def _url(commune: CommuneContext, info: str) -> str:
    return commune.url(f"gestion/paiement-en-ligne/?info={info}")


async def _page(
    request: Request,
    commune: CommuneContext,
    agent: SignedInAgent,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    return backoffice_page(
        request,
        commune,
        agent,
        TEMPLATE,
        status_code=422 if errors else 200,
        rows=await _states(commune),
        default_text=default_message(),
        may_write=can(agent.agent, "suspension.write"),
        errors=errors or {},
        values=values or {},
    )
