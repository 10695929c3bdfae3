"""Familles: search a payer, open its page (invoices, payments, accounts), and act on its
accounts (activation e-mail again, disable, enable). A payer of another commune is a 404."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from core.backoffice import families
from core.backoffice.invitations import last_invitations
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, backoffice_root, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import form_fields

SECTION = "familles"


def page_number(request: Request[Any, Any, Any]) -> int:
    """`?page=` as a page number (1 for anything else)."""
    value = request.query_params.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 1_000_000 else 1


class FamilyController(BackofficeController):
    path = "/{slug:str}/gestion/familles"

    @get("/", name="backoffice_families", opt=permission("families.read"))
    async def search_families(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        query = request.query_params.get("q", "").strip()
        results = await families.search_payers(commune.id, query, page_number(request))
        return backoffice_page(
            request,
            commune,
            agent,
            "backoffice/families.html",
            block="family_results",
            query=query,
            results=results,
            list_url=backoffice_root(commune) + SECTION,
        )

    @get("/{payer_id:int}", name="backoffice_family", opt=permission("families.read"))
    async def show_family(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, payer_id: int
    ) -> Template:
        try:
            family = await families.get_family(commune.id, payer_id)
        except families.NotFound:
            raise NotFoundException from None
        invoices = await families.family_invoices(commune.id, payer_id, page_number(request))
        emails = [address.email for address in family.addresses]
        return backoffice_page(
            request,
            commune,
            agent,
            "backoffice/families_detail.html",
            block="family_invoices",
            family=family,
            invoices=invoices,
            payments=await families.family_payments(commune.id, payer_id),
            facts=await families.payer_facts(commune, payer_id),
            invited=await last_invitations(commune.id, emails),
            family_url=f"{backoffice_root(commune)}{SECTION}/{payer_id}",
        )

    @post("/{payer_id:int}/activation", opt=permission("families.write"))
    async def resend_activation(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        mailer: Mailer,
        payer_id: int,
    ) -> Response[Any]:
        form = await form_fields(request)
        actor = agent.agent.actor(client_address(request, settings))
        try:
            await families.resend_activation(
                commune, payer_id, form.get("email", ""), mailer, actor
            )
        except families.NotFound:
            raise NotFoundException from None
        return _back(commune, payer_id, "activation_resent")

    @post("/{payer_id:int}/desactiver", opt=permission("families.write"))
    async def disable_account(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        payer_id: int,
    ) -> Response[Any]:
        await _set_disabled(request, commune, agent, settings, payer_id, disabled=True)
        return _back(commune, payer_id, "account_disabled")

    @post("/{payer_id:int}/reactiver", opt=permission("families.write"))
    async def enable_account(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        payer_id: int,
    ) -> Response[Any]:
        await _set_disabled(request, commune, agent, settings, payer_id, disabled=False)
        return _back(commune, payer_id, "account_enabled")


async def _set_disabled(
    request: Request[Any, Any, Any],
    commune: CommuneContext,
    agent: SignedInAgent,
    settings: Settings,
    payer_id: int,
    *,
    disabled: bool,
) -> None:
    form = await form_fields(request)
    account_id = form.get("account_id", "")
    if not account_id.isdigit():
        raise NotFoundException
    actor = agent.agent.actor(client_address(request, settings))
    try:
        await families.set_account_disabled(
            commune.id, payer_id, int(account_id), actor, disabled=disabled
        )
    except families.NotFound:
        raise NotFoundException from None


def _back(commune: CommuneContext, payer_id: int, info: str) -> Response[Any]:
    target = f"{backoffice_root(commune)}{SECTION}/{payer_id}?info={info}"
    return Redirect(path=target, status_code=303)
