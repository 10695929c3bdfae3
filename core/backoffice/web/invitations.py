"""Inviter les familles: how many payer addresses have no account (and how many were invited
recently), and the form that invites them all at once (régie and "to pay" filters optional)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from core.backoffice import invitations
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, backoffice_root, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.i18n import t
from core.mail.mailer import Mailer
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import form_fields

SECTION = "invitations"


def _count(request: Request[Any, Any, Any], name: str) -> int | None:
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


class InvitationController(BackofficeController):
    path = "/{slug:str}/gestion/invitations"

    @get("/", name="backoffice_invitations", opt=permission("families.invite"))
    async def show_invitations(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        invited, skipped = _count(request, "invitees"), _count(request, "ignorees")
        outcome = None
        if invited is not None and skipped is not None:
            outcome = invitations.Outcome(invited, skipped)
        return await _invitations_page(request, commune, agent, outcome=outcome)

    @post("/", opt=permission("families.invite"))
    async def invite_families(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        mailer: Mailer,
    ) -> Response[Any]:
        form = await form_fields(request)
        code = form.get("regie", "")
        regie_id = await invitations.regie_id(commune.id, code)
        if code and regie_id is None:
            return await _invitations_page(
                request,
                commune,
                agent,
                errors={"regie": [t("backoffice.invitations.regie_unknown", code=code)]},
                status_code=422,
            )
        target = invitations.Target(regie_id, to_pay_only=form.get("to_pay_only") == "1")
        actor = agent.agent.actor(client_address(request, settings))
        outcome = await invitations.invite(commune, target, mailer, actor)
        query = urlencode(
            {"info": "invitations_sent", "invitees": outcome.invited, "ignorees": outcome.skipped}
        )
        return Redirect(path=f"{backoffice_root(commune)}{SECTION}?{query}", status_code=303)


async def _invitations_page(
    request: Request[Any, Any, Any],
    commune: CommuneContext,
    agent: SignedInAgent,
    *,
    outcome: invitations.Outcome | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Template:
    return backoffice_page(
        request,
        commune,
        agent,
        "backoffice/invitations.html",
        counts=await invitations.counts(commune),
        regies=commune.config.regies,
        delay_days=commune.config.invitation_delay_days,
        outcome=outcome,
        errors=errors or {},
        invitations_url=backoffice_root(commune) + SECTION,
        status_code=status_code,
    )
