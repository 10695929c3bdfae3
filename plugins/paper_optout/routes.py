"""`/<commune>/papier`: the confirmation step (GET) and the choice (POST)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from core.accounts.controllers import mailer, page, require_account
from core.communes.context import CommuneContext
from plugins.paper_optout import PLUGIN_NAME, notify_address, services


def _enabled(commune: CommuneContext) -> None:
    if not commune.enabled(PLUGIN_NAME):
        raise NotFoundException()


class PaperOptoutController(Controller):
    path = "/{slug:str}"

    @get("/papier", name="paper_optout_confirm")
    async def confirm_page(self, request: Request, commune: CommuneContext) -> Template:
        _enabled(commune)
        account = await require_account(request, commune)
        current = await services.preference(account.account_id)
        return page(
            request,
            commune,
            "paper_optout/confirm.html",
            account=account,
            wants_optout=not current.paper_optout,
        )

    @post("/papier", name="paper_optout_choose")
    async def choose(self, request: Request, commune: CommuneContext) -> Response[Any]:
        _enabled(commune)
        account = await require_account(request, commune)
        form = await request.form()
        choice = form.get("paper_optout")
        if choice not in {"0", "1"}:
            return Redirect(path=commune.url("papier"), status_code=303)
        paper_optout = choice == "1"
        await services.choose(
            commune, account.account_id, paper_optout, notify_address(commune), mailer(request)
        )
        info = "paper_optout_on" if paper_optout else "paper_optout_off"
        return Redirect(
            path=commune.url(f"mes-informations?info={info}#paper-optout-section"),
            status_code=303,
        )
