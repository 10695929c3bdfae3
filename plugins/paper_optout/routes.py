"""`/<commune>/papier`: the confirmation step (GET) and the choice (POST); 404 where the plugin
is off (its `commune` dependency), before anyone is asked to log in."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.web.dependencies import commune_with
from core.web.identity import SignedIn
from core.web.pages import page
from plugins.paper_optout import services
from plugins.paper_optout.settings import PLUGIN_NAME, notify_address


class PaperOptoutController(Controller):
    path = "/{slug:str}"
    dependencies = {"commune": commune_with(PLUGIN_NAME)}  # noqa: RUF012 (Litestar's API)

    @get("/papier", name="paper_optout_confirm")
    async def confirm_page(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Template:
        current = await services.preference(account.account_id)
        return page(
            request,
            commune,
            "paper_optout/confirm.html",
            account=account,
            wants_optout=not current.paper_optout,
        )

    @post("/papier", name="paper_optout_choose")
    async def choose(
        self, request: Request, commune: CommuneContext, account: SignedIn, mailer: Mailer
    ) -> Response[Any]:
        form = await request.form()
        choice = form.get("paper_optout")
        if choice not in {"0", "1"}:
            return Redirect(path=commune.url("papier"), status_code=303)
        paper_optout = choice == "1"
        await services.choose(
            commune, account.account_id, paper_optout, notify_address(commune), mailer
        )
        info = "paper_optout_on" if paper_optout else "paper_optout_off"
        return Redirect(
            path=commune.url(f"mes-informations?info={info}#paper-optout-section"),
            status_code=303,
        )
