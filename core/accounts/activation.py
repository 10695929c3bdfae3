"""Activating an account: ask for the link (the answer is the same for any address), then
choose the first password behind it."""

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


class ActivationController(Controller):
    path = "/{slug:str}"

    @get("/activation", name="activation")
    async def activation_page(self, request: Request, commune: CommuneContext) -> Template:
        return page(request, commune, "auth/activation_request.html")

    @post("/activation")
    async def request_activation(
        self, request: Request, commune: CommuneContext, settings: Settings, mailer: Mailer
    ) -> Response[Any]:
        return await answer_link_request(
            request,
            commune,
            settings,
            mailer,
            template="auth/activation_request.html",
            sent_path="activation/envoyee",
            send_link=services.send_activation_link,
            event="activation_request",
        )

    @get("/activation/envoyee")
    async def activation_sent(self, request: Request, commune: CommuneContext) -> Template:
        return page(request, commune, "auth/link_sent.html", purpose="activation")

    @get("/activation/{token:str}")
    async def activation_form(
        self, request: Request, commune: CommuneContext, token: str
    ) -> Template:
        return await password_form(request, commune, token, "activation")

    @post("/activation/{token:str}")
    async def activate(
        self, request: Request, commune: CommuneContext, settings: Settings, token: str
    ) -> Response[Any]:
        form = await form_fields(request)
        try:
            account_id, version = await services.complete_activation(
                commune, token, form.get("password", ""), form.get("confirmation", "")
            )
        except Problems as exc:
            after_link(request, commune, settings, "activation", exc)
            return form_error(
                request,
                commune,
                "auth/set_password.html",
                exc,
                form,
                purpose="activation",
                token=token,
            )
        after_link(request, commune, settings, "activation", (account_id, version))
        return await signed_in_redirect(
            request,
            commune,
            settings,
            account_id,
            version,
            persistent=False,
            target=commune.url("?info=activated"),
        )
