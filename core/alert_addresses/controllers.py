"""Alert addresses in "Mes informations" (add, remove; htmx answers with the section), and the
confirmation link's page (a button, so a mail scanner following the link confirms nothing)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from core.accounts.profile import account_page
from core.alert_addresses import services
from core.communes.context import CommuneContext
from core.i18n import t
from core.mail.mailer import Mailer
from core.web.forms import Problems, form_fields
from core.web.identity import SignedIn
from core.web.pages import page
from core.web.render import is_htmx


class AlertAddressController(Controller):
    path = "/{slug:str}"

    @post("/mes-informations/alertes", name="alert_address_add")
    async def add(
        self, request: Request, commune: CommuneContext, account: SignedIn, mailer: Mailer
    ) -> Response[Any]:
        typed = (await form_fields(request)).get("alert_email", "")
        try:
            email = await services.add_address(commune, account.account_id, typed, mailer)
        except (Problems, services.AlertAddressRateLimited) as exc:
            errors = exc.errors if isinstance(exc, Problems) else {"alert_email": [str(exc)]}
            return await account_page(
                request,
                commune,
                account,
                block="alerts_section",
                errors=errors,
                values={"alert_email": typed},
                # htmx swaps only 2xx and 422 answers (base.html): a refusal must show.
                status_code=422 if isinstance(exc, Problems) or is_htmx(request) else 429,
            )
        if is_htmx(request):
            return await account_page(
                request,
                commune,
                account,
                block="alerts_section",
                alerts_info=t("alerts.added", email=email),
            )
        return Redirect(
            path=commune.url("mes-informations?info=alert_added#alerts-section"), status_code=303
        )

    @post("/mes-informations/alertes/{address_id:int}/supprimer", name="alert_address_remove")
    async def remove(
        self, request: Request, commune: CommuneContext, account: SignedIn, address_id: int
    ) -> Response[Any]:
        email = await services.remove_address(account.account_id, address_id)
        if email is None:  # another account's (or already gone): as every object, not found
            raise NotFoundException()
        if is_htmx(request):
            return await account_page(
                request,
                commune,
                account,
                block="alerts_section",
                alerts_info=t("alerts.removed", email=email),
            )
        return Redirect(
            path=commune.url("mes-informations?info=alert_removed#alerts-section"),
            status_code=303,
        )

    @post("/mes-informations/alertes/{address_id:int}/renvoyer", name="alert_address_resend")
    async def resend(
        self,
        request: Request,
        commune: CommuneContext,
        account: SignedIn,
        mailer: Mailer,
        address_id: int,
    ) -> Response[Any]:
        """A new confirmation link for an address whose link expired."""
        try:
            email = await services.resend_link(commune, account.account_id, address_id, mailer)
        except services.AlertAddressNotFound:  # another account's: as every object, not found
            raise NotFoundException() from None
        except services.AlertAddressRateLimited:
            return await account_page(
                request,
                commune,
                account,
                block="alerts_section",
                errors={"alert_resend": [t("alerts.resend_rate_limited")]},
                status_code=422 if is_htmx(request) else 429,
            )
        if is_htmx(request):
            return await account_page(
                request,
                commune,
                account,
                block="alerts_section",
                alerts_info=t("alerts.link_resent", email=email) if email else "",
            )
        info = "alert_link_resent" if email else "alert_link_not_resent"
        return Redirect(
            path=commune.url(f"mes-informations?info={info}#alerts-section"), status_code=303
        )

    @get("/alerte/confirmee", name="alert_address_confirmed")
    async def confirmed(
        self, request: Request, commune: CommuneContext, current_account: SignedIn | None
    ) -> Template:
        return _confirm_page(request, commune, current_account, done=True, invalid=False, token="")

    @get("/alerte/{token:str}", name="alert_address_confirm_page")
    async def confirm_page(
        self,
        request: Request,
        commune: CommuneContext,
        current_account: SignedIn | None,
        token: str,
    ) -> Template:
        pending = await services.pending_confirmation(commune, token)
        return _confirm_page(
            request,
            commune,
            current_account,
            done=False,
            invalid=pending is None,
            email=pending["email"] if pending else "",
            account_email=pending["account_email"] if pending else "",
            token=token,
            status_code=200 if pending else 410,
        )

    @post("/alerte/{token:str}")
    async def confirm(
        self,
        request: Request,
        commune: CommuneContext,
        current_account: SignedIn | None,
        token: str,
    ) -> Response[Any]:
        email = await services.confirm(commune, token)
        if email is None:
            return _confirm_page(
                request,
                commune,
                current_account,
                done=False,
                invalid=True,
                token=token,
                status_code=410,
            )
        return Redirect(path=commune.url("alerte/confirmee"), status_code=303)


def _confirm_page(
    request: Request,
    commune: CommuneContext,
    account: SignedIn | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """The alert-address confirmation page, in each of its states (to confirm, done, invalid)."""
    context.setdefault("email", "")
    return page(
        request,
        commune,
        "alerts/confirm.html",
        account=account,
        status_code=status_code,
        **context,
    )
