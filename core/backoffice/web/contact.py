"""Messages des familles: the list (newest first, unread ones marked, a filter on those not
handled), a message with its thread, the answer e-mailed to the family, "Marquer comme traité".
Reading needs `contact.read` (lecteurs too); answering and marking need `contact.reply`."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from core.backoffice import contact
from core.backoffice.roles import can
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, backoffice_root, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import Problems, form_fields

LIST_TEMPLATE = "backoffice/contact_list.html"
MESSAGE_TEMPLATE = "backoffice/contact_message.html"
NOT_HANDLED = "non-traites"
"""`?filtre=non-traites`: only the messages waiting for an answer."""


def _page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


class ContactMessagesController(BackofficeController):
    path = "/{slug:str}/gestion/messages"

    @get("/", name="backoffice_contact_messages", opt=permission("contact.read"))
    async def list_messages(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        not_handled = request.query_params.get("filtre") == NOT_HANDLED
        listing = await contact.list_messages(
            commune.id, not_handled=not_handled, page=_page_number(request)
        )
        return backoffice_page(
            request,
            commune,
            agent,
            LIST_TEMPLATE,
            listing=listing,
            not_handled=not_handled,
            filter_value=NOT_HANDLED,
        )

    @get("/{message_id:int}", name="backoffice_contact_message", opt=permission("contact.read"))
    async def show_message(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, message_id: int
    ) -> Template:
        return await _message_page(request, commune, agent, message_id)

    @post("/{message_id:int}/repondre", opt=permission("contact.reply"))
    async def reply(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        mailer: Mailer,
        message_id: int,
    ) -> Response[Any]:
        form = await form_fields(request)
        typed = form.get("reply", "")
        try:
            found = await contact.reply(
                commune,
                message_id,
                typed,
                agent.agent,
                mailer,
                client_address(request, settings),
            )
        except Problems as exc:
            return await _message_page(
                request,
                commune,
                agent,
                message_id,
                values={"reply": typed},
                errors=exc.errors,
                status_code=422,
            )
        if not found:
            raise NotFoundException()
        return _back(commune, message_id, "contact_replied")

    @post("/{message_id:int}/traite", opt=permission("contact.reply"))
    async def mark_handled(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        message_id: int,
    ) -> Response[Any]:
        ip = client_address(request, settings)
        if not await contact.mark_handled(commune.id, message_id, agent.agent, ip):
            raise NotFoundException()
        return _back(commune, message_id, "contact_handled")


def _back(commune: CommuneContext, message_id: int, info: str) -> Redirect:
    path = f"{backoffice_root(commune)}messages/{message_id}?info={info}"
    return Redirect(path=path, status_code=303)


async def _message_page(
    request: Request,
    commune: CommuneContext,
    agent: SignedInAgent,
    message_id: int,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    thread = await contact.open_message(commune.id, message_id)
    if thread is None:
        raise NotFoundException()
    return backoffice_page(
        request,
        commune,
        agent,
        MESSAGE_TEMPLATE,
        status_code=status_code,
        thread=thread,
        may_reply=can(agent.agent, "contact.reply"),
        reply_max=contact.REPLY_MAX_LENGTH,
        **context,
    )
