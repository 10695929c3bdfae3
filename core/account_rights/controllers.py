"""The parent's rights, from "Mes informations": their data (a page and a JSON file) and the
deletion of their account (an explanation with the password form, then a confirmation page)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from core.account_rights import export
from core.account_rights.deletion import delete_account
from core.accounts.sessions import cleared_cookie
from core.clock import now
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.security import audit
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.formatting import TIMEZONE
from core.web.forms import Problems, RateLimited, form_fields
from core.web.identity import SignedIn
from core.web.pages import page


class AccountRightsController(Controller):
    path = "/{slug:str}"

    @get("/mes-informations/mes-donnees", name="account_data")
    async def data_page(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Template:
        sections = await export.collect(commune, account.account_id, limit=export.PAGE_ROWS)
        return page(
            request,
            commune,
            "account_rights/data.html",
            account=account,
            sections=sections,
            page_rows=export.PAGE_ROWS,
        )

    @get("/mes-informations/mes-donnees.json", name="account_data_file")
    async def data_file(
        self, request: Request, commune: CommuneContext, account: SignedIn, settings: Settings
    ) -> Response[bytes]:
        moment = now()
        sections = await export.collect(commune, account.account_id, limit=None)
        audit.record(
            "account_export",
            "success",
            commune=commune.slug,
            client=client_address(request, settings),
            account=account.account_id,
        )
        day = moment.astimezone(TIMEZONE).date().isoformat()
        return Response(
            export.as_json(commune, sections, moment),
            media_type="application/json; charset=utf-8",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="mes-donnees-{commune.slug}-{day}.json"'
                ),
                "Cache-Control": "no-store",
            },
        )

    @get("/mes-informations/supprimer", name="account_delete")
    async def deletion_page(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Template:
        return _deletion_form(request, commune, account, {}, 200)

    @post("/mes-informations/supprimer")
    async def delete(
        self,
        request: Request,
        commune: CommuneContext,
        account: SignedIn,
        mailer: Mailer,
        settings: Settings,
    ) -> Response[Any]:
        form = await form_fields(request)
        client = client_address(request, settings)

        def record(outcome: str) -> None:
            audit.record(
                "account_deletion",
                outcome,
                commune=commune.slug,
                client=client,
                account=account.account_id,
            )

        try:
            await delete_account(commune, account.account_id, form.get("password", ""), mailer)
        except Problems as exc:
            record("failure")
            return _deletion_form(request, commune, account, exc.errors, 422)
        except RateLimited as exc:
            record("throttled")
            return _deletion_form(request, commune, account, {"password": [str(exc)]}, 429)
        record("success")
        response: Response[Any] = Redirect(path=commune.url("compte-supprime"), status_code=303)
        response.set_cookie(cleared_cookie(commune.root, secure=settings.secure_cookies))
        return response

    @get("/compte-supprime", name="account_deleted")
    async def deleted_page(self, request: Request, commune: CommuneContext) -> Template:
        """Shown to anyone: the browser that asked is signed out already."""
        return page(request, commune, "account_rights/deleted.html")


def _deletion_form(
    request: Request,
    commune: CommuneContext,
    account: SignedIn,
    errors: dict[str, list[str]],
    status_code: int,
) -> Template:
    """The deletion page again, its errors on the password field; nothing was deleted."""
    return page(
        request,
        commune,
        "account_rights/delete.html",
        account=account,
        errors=errors,
        status_code=status_code,
    )
