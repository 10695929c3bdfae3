"""The forgotten password: ask for a reset link (the answer is the same for any address), then
choose a new password behind it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from core.accounts import services
from core.accounts.responses import (
    after_link,
    answer_link_request,
    form_error,
    password_form,
    signed_in_redirect,
)
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.settings import Settings
from core.web.forms import Problems, form_fields
from core.web.pages import page


class PasswordResetController(Controller):
    path = "/{slug:str}"

    @get("/mot-de-passe-oublie", name="forgotten_password")
    async def reset_request_page(self, request: Request, commune: CommuneContext) -> Template:
        return page(request, commune, "auth/reset_request.html")

    @post("/mot-de-passe-oublie")
    async def request_reset(
        self, request: Request, commune: CommuneContext, settings: Settings, mailer: Mailer
    ) -> Response[Any]:
        return await answer_link_request(
            request,
            commune,
            settings,
            mailer,
            template="auth/reset_request.html",
            sent_path="mot-de-passe-oublie/envoye",
            send_link=services.send_reset_link,
            event="reset_request",
        )

    @get("/mot-de-passe-oublie/envoye")
    async def reset_sent(self, request: Request, commune: CommuneContext) -> Template:
        return page(request, commune, "auth/link_sent.html", purpose="reset")

    @get("/mot-de-passe/{token:str}")
    async def reset_form(self, request: Request, commune: CommuneContext, token: str) -> Template:
        return await password_form(request, commune, token, "reset")

    @post("/mot-de-passe/{token:str}")
    async def reset(
        self, request: Request, commune: CommuneContext, settings: Settings, token: str
    ) -> Response[Any]:
        form = await form_fields(request)
        try:
            account_id, version = await services.complete_password_reset(
                commune, token, form.get("password", ""), form.get("confirmation", "")
            )
        except Problems as exc:
            after_link(request, commune, settings, "password_reset", exc)
            return form_error(
                request, commune, "auth/set_password.html", exc, form, purpose="reset", token=token
            )
        after_link(request, commune, settings, "password_reset", (account_id, version))
        return await signed_in_redirect(
            request,
            commune,
            settings,
            account_id,
            version,
            persistent=False,
            target=commune.url("?info=password_reset"),
        )
