"""The "Contact" page: the service's general information and the message form (POST, then
redirect with a confirmation; errors show the form again with what was typed)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from core.communes.context import CommuneContext
from core.contact import services
from core.mail.mailer import Mailer
from core.web.forms import Problems, form_fields
from core.web.identity import SignedIn
from core.web.pages import page


class ContactController(Controller):
    path = "/{slug:str}"

    @get("/contact", name="contact")
    async def contact_page(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Template:
        draft = await services.prefilled(account.account_id)
        return _contact_page(
            request, commune, account, values={"name": draft.name, "email": draft.email}
        )

    @post("/contact")
    async def send(
        self, request: Request, commune: CommuneContext, account: SignedIn, mailer: Mailer
    ) -> Response[Any]:
        form = await form_fields(request)
        typed = {name: form.get(name, "") for name in ("name", "email", "message")}
        try:
            await services.send_message(
                commune,
                account.account_id,
                typed["name"],
                typed["email"],
                typed["message"],
                mailer,
            )
        except Problems as exc:
            return _contact_page(
                request, commune, account, values=typed, errors=exc.errors, status_code=422
            )
        except services.ContactRateLimited as exc:
            return _contact_page(
                request,
                commune,
                account,
                values=typed,
                errors={"form": [str(exc)]},
                status_code=429,
            )
        return Redirect(path=commune.url("contact?info=contact_sent"), status_code=303)


def _contact_page(
    request: Request, commune: CommuneContext, account: SignedIn, **context: Any
) -> Template:
    return page(
        request,
        commune,
        "contact/contact.html",
        account=account,
        message_max_length=services.MESSAGE_MAX_LENGTH,
        message_max_label=services.MESSAGE_MAX_LABEL,
        **context,
    )
