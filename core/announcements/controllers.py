"""Closing the important message of the home page ("Fermer")."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.response import Redirect

from core.announcements import services
from core.communes.context import CommuneContext
from core.web.identity import SignedIn
from core.web.render import is_htmx, render


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


class AnnouncementController(Controller):
    path = "/{slug:str}"

    @post("/message/fermer", name="close_message")
    async def close_message(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Response[Any]:
        """Remember the closing, per account and message version. Without JavaScript: back to
        the home page. With htmx: a visible "Message fermé." that replaces the dialog and keeps
        the keyboard focus there."""
        form = await request.form()
        await services.dismiss(
            commune.id,
            account.account_id,
            _int(form.get("message", "")),
            _int(form.get("version", "")),
        )
        if is_htmx(request):
            return render(request, "announcements/_message_closed.html")
        return Redirect(path=commune.root, status_code=303)
