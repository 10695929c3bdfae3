""" "Mes informations": the page, changing the password and the e-mail address (the forms also
answer htmx with their own section), the new address's confirmation link, and the list of open
sessions with "Se déconnecter partout"."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from core.accounts import services
from core.accounts.sessions import (
    bump_auth_version,
    cleared_cookie,
    open_session,
    open_sessions,
    session_cookie,
)
from core.alert_addresses import services as alert_addresses
from core.communes.context import CommuneContext
from core.i18n import t
from core.mail.mailer import Mailer
from core.security import audit
from core.settings import Settings
from core.web.dependencies import client_address, provide_settings
from core.web.forms import Problems, RateLimited, form_fields
from core.web.identity import SignedIn
from core.web.pages import page
from core.web.render import is_htmx


class ProfileController(Controller):
    path = "/{slug:str}"

    @get("/mes-informations", name="account")
    async def account_page(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Template:
        return await account_page(request, commune, account)

    @post("/mes-informations/mot-de-passe")
    async def change_password(
        self, request: Request, commune: CommuneContext, account: SignedIn, settings: Settings
    ) -> Response[Any]:
        form = await form_fields(request)
        try:
            version = await services.change_password(
                commune,
                account.account_id,
                form.get("old_password", ""),
                form.get("new_password", ""),
                form.get("confirmation", ""),
            )
        except (Problems, RateLimited) as exc:
            _record(request, commune, settings, "password_change", account, exc)
            return await account_page(
                request,
                commune,
                account,
                block="password_section",
                status_code=_error_status(exc),
                errors=_errors(exc, "old_password"),
            )
        _record(request, commune, settings, "password_change", account)
        # Every session ended with the change; this browser gets a fresh one, as long-lived as
        # the one it had ("Se souvenir de moi" survives a password change).
        persistent = account.persistent
        secret = await open_session(
            account.account_id,
            version,
            persistent=persistent,
            user_agent=request.headers.get("user-agent", ""),
        )
        cookie = session_cookie(
            commune.root, secret, persistent=persistent, secure=settings.secure_cookies
        )
        if is_htmx(request):
            response: Response[Any] = await account_page(
                request,
                commune,
                account,
                block="password_section",
                section_info=t("flash.password_changed"),
            )
        else:
            response = Redirect(
                path=commune.url("mes-informations?info=password_changed"), status_code=303
            )
        response.set_cookie(cookie)
        return response

    @post("/mes-informations/sessions/fermer", name="logout_everywhere")
    async def logout_everywhere(
        self, request: Request, commune: CommuneContext, account: SignedIn, settings: Settings
    ) -> Response[Any]:
        """ "Se déconnecter partout": every session of the account ends, this one included."""
        await bump_auth_version(account.account_id)
        audit.record(
            "logout",
            "success",
            commune=commune.slug,
            client=client_address(request, settings),
            account=account.account_id,
            reason="everywhere",
        )
        response: Response[Any] = Redirect(
            path=commune.url("connexion?info=logged_out_everywhere"), status_code=303
        )
        response.set_cookie(cleared_cookie(commune.root, secure=settings.secure_cookies))
        return response

    @post("/mes-informations/adresse")
    async def change_email(
        self,
        request: Request,
        commune: CommuneContext,
        account: SignedIn,
        mailer: Mailer,
        settings: Settings,
    ) -> Response[Any]:
        form = await form_fields(request)
        try:
            await services.request_email_change(
                commune,
                account.account_id,
                form.get("new_email", ""),
                form.get("password", ""),
                mailer,
            )
        except (Problems, RateLimited) as exc:
            _record(request, commune, settings, "email_change_request", account, exc)
            return await account_page(
                request,
                commune,
                account,
                block="email_section",
                errors=_errors(exc, "password"),
                values={"new_email": form.get("new_email", "")},
                status_code=_error_status(exc),
            )
        _record(request, commune, settings, "email_change_request", account)
        if is_htmx(request):
            return await account_page(
                request,
                commune,
                account,
                block="email_section",
                section_info=t("flash.email_change_sent"),
            )
        return Redirect(
            path=commune.url("mes-informations?info=email_change_sent"), status_code=303
        )

    @get("/adresse/{token:str}")
    async def email_change_page(
        self,
        request: Request,
        commune: CommuneContext,
        current_account: SignedIn | None,
        token: str,
    ) -> Template:
        valid = await services.valid_token(commune, token, "email_change")
        return page(
            request,
            commune,
            "account/confirm_email.html",
            account=current_account,
            token=token,
            new_email=valid["new_email"] if valid else "",
            invalid=valid is None,
            status_code=200 if valid else 410,
        )

    @post("/adresse/{token:str}")
    async def confirm_email_change(
        self,
        request: Request,
        commune: CommuneContext,
        current_account: SignedIn | None,
        mailer: Mailer,
        settings: Settings,
        token: str,
    ) -> Response[Any]:
        client = client_address(request, settings)
        try:
            account_id = await services.confirm_email_change(commune, token, mailer)
        except Problems as exc:
            audit.record("email_change", "failure", commune=commune.slug, client=client)
            return page(
                request,
                commune,
                "account/confirm_email.html",
                token=token,
                new_email="",
                invalid=True,
                errors=exc.errors,
                status_code=410,
            )
        audit.record(
            "email_change", "success", commune=commune.slug, client=client, account=account_id
        )
        target = (
            "mes-informations?info=email_changed"
            if current_account
            else "connexion?info=email_changed"
        )
        return Redirect(path=commune.url(target), status_code=303)


def _record(
    request: Request,
    commune: CommuneContext,
    settings: Settings,
    event: str,
    account: SignedIn,
    refused: Problems | RateLimited | None = None,
) -> None:
    """Log a change on "Mes informations": success, failure (the fields refused) or throttled."""
    client = client_address(request, settings)
    if refused is None:
        outcome, reason = "success", ""
    elif isinstance(refused, RateLimited):
        outcome, reason = "throttled", ""
    else:
        outcome, reason = "failure", ",".join(sorted(refused.errors))
    audit.record(
        event,
        outcome,
        commune=commune.slug,
        client=client,
        account=account.account_id,
        reason=reason,
    )


def _errors(exc: Problems | RateLimited, password_field: str) -> dict[str, list[str]]:
    """The form's errors; too many wrong current passwords show on the password field."""
    return {password_field: [str(exc)]} if isinstance(exc, RateLimited) else exc.errors


def _error_status(exc: Problems | RateLimited) -> int:
    return 429 if isinstance(exc, RateLimited) else 422


async def account_page(
    request: Request,
    commune: CommuneContext,
    account: SignedIn,
    *,
    block: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """ "Mes informations", or one of its sections (`block`) for htmx; plugins add sections."""
    sections = [name for names in commune.hooks.account_sections(commune=commune) for name in names]
    context.setdefault("section_info", "")
    context.setdefault("alerts_info", "")
    context["alert_addresses"] = await alert_addresses.list_addresses(account.account_id)
    context["alerts_max"] = alert_addresses.MAX_PER_ACCOUNT
    context["open_sessions"] = await open_sessions(
        account.account_id, account.session_hash, provide_settings(request).session_idle_timeout
    )
    for pending in commune.hooks.account_section_context(commune=commune, account=account):
        context.update(await pending)
    return page(
        request,
        commune,
        "account/details.html",
        account=account,
        block=block,
        sections=sections,
        status_code=status_code,
        **context,
    )
