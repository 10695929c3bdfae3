"""Pages of the account journeys. Every flow works without JavaScript (POST, then redirect);
the "Mes informations" forms also answer htmx with their own section."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from core.accounts import services
from core.accounts.services import Mailer, Problems, RateLimited
from core.accounts.sessions import (
    COOKIE_NAME,
    SignedIn,
    cleared_cookie,
    end_session,
    open_session,
    session_cookie,
    signed_in,
)
from core.accounts.tokens import digest
from core.alert_addresses import services as alert_addresses
from core.announcements import services as announcements
from core.communes.context import CommuneContext
from core.i18n import has, t
from core.web.render import is_htmx, render
from core.web.security import client_ip


class LoginRequired(Exception):
    """Raised by pages that need a logged-in parent; answered with a redirect to the login."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.root = root


async def current_account(request: Request, commune: CommuneContext) -> SignedIn | None:
    if "account" not in request.state:
        request.state.account = await signed_in(request.cookies.get(COOKIE_NAME), commune.id)
    return request.state.account  # type: ignore[no-any-return]


async def require_account(request: Request, commune: CommuneContext) -> SignedIn:
    account = await current_account(request, commune)
    if account is None:
        raise LoginRequired(commune.root)
    return account


def page(
    request: Request,
    commune: CommuneContext,
    template: str,
    *,
    account: SignedIn | None = None,
    block: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """Render a commune page with what every page needs: commune, account, menu, notice."""
    info = request.query_params.get("info", "")
    menu = sorted(
        (item for items in commune.hooks.menu_items(commune=commune) for item in items),
        key=lambda item: item.order,
    )
    return render(
        request,
        template,
        {
            "commune": commune,
            "account": account,
            "menu": menu if account else [],
            "current_path": request.url.path,
            "info": t(f"flash.{info}") if info and has(f"flash.{info}") else "",
            "errors": {},
            "values": {},
            **context,
        },
        block=block,
        status_code=status_code,
    )


def mailer(request: Request) -> Mailer:
    portal = request.app.state.portal
    return Mailer(env=portal.env, base_url=portal.settings.base_url)


def _ip(request: Request) -> str:
    return client_ip(request, request.app.state.portal.settings.trust_proxy_headers)


def _secure(request: Request) -> bool:
    return bool(request.app.state.portal.settings.secure_cookies)


async def _signed_in_redirect(
    request: Request,
    commune: CommuneContext,
    account_id: int,
    auth_version: int,
    *,
    persistent: bool,
    target: str,
) -> Response[Any]:
    """Open a fresh session (a new id at every login) and go to `target`."""
    old = request.cookies.get(COOKIE_NAME)
    if old:
        await end_session(digest(old))
    secret = await open_session(account_id, auth_version, persistent=persistent)
    response: Response[Any] = Redirect(path=target, status_code=303)
    response.set_cookie(
        session_cookie(commune.root, secret, persistent=persistent, secure=_secure(request))
    )
    return response


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items() if isinstance(value, str)}


class AccountController(Controller):
    path = "/{slug:str}"

    # --- Home and login ------------------------------------------------------------------

    @get("/", name="home")
    async def home(self, request: Request, commune: CommuneContext) -> Template:
        account = await current_account(request, commune)
        if account is None:
            return page(request, commune, "auth/login.html")
        return page(
            request,
            commune,
            "home.html",
            account=account,
            **await announcements.home_context(commune.id, account.account_id),
        )

    @get("/connexion", name="login")
    async def login_page(self, request: Request, commune: CommuneContext) -> Template | Redirect:
        if await current_account(request, commune) is not None:
            return Redirect(path=commune.root, status_code=303)
        return page(request, commune, "auth/login.html")

    @post("/connexion")
    async def login(self, request: Request, commune: CommuneContext) -> Response[Any]:
        form = await _form(request)
        try:
            account_id, version = await services.authenticate(
                commune, form.get("email", ""), form.get("password", ""), _ip(request)
            )
        except (Problems, RateLimited) as exc:
            return _form_error(request, commune, "auth/login.html", exc, form, keep=("email",))
        return await _signed_in_redirect(
            request,
            commune,
            account_id,
            version,
            persistent=form.get("remember") == "on",
            target=commune.root,
        )

    @post("/deconnexion", name="logout")
    async def logout(self, request: Request, commune: CommuneContext) -> Response[Any]:
        secret = request.cookies.get(COOKIE_NAME)
        if secret:
            await end_session(digest(secret))
        response: Response[Any] = Redirect(
            path=commune.url("connexion?info=logged_out"), status_code=303
        )
        response.set_cookie(cleared_cookie(commune.root, secure=_secure(request)))
        return response

    # --- Activation ----------------------------------------------------------------------

    @get("/activation", name="activation")
    async def activation_page(self, request: Request, commune: CommuneContext) -> Template:
        return page(request, commune, "auth/activation_request.html")

    @post("/activation")
    async def request_activation(self, request: Request, commune: CommuneContext) -> Response[Any]:
        form = await _form(request)
        try:
            await services.request_activation(
                commune, form.get("email", ""), _ip(request), mailer(request)
            )
        except (Problems, RateLimited) as exc:
            return _form_error(
                request, commune, "auth/activation_request.html", exc, form, keep=("email",)
            )
        return Redirect(path=commune.url("activation/envoyee"), status_code=303)

    @get("/activation/envoyee")
    async def activation_sent(self, request: Request, commune: CommuneContext) -> Template:
        return page(request, commune, "auth/link_sent.html", purpose="activation")

    @get("/activation/{token:str}")
    async def activation_form(
        self, request: Request, commune: CommuneContext, token: str
    ) -> Template:
        return await _password_form(request, commune, token, "activation")

    @post("/activation/{token:str}")
    async def activate(
        self, request: Request, commune: CommuneContext, token: str
    ) -> Response[Any]:
        form = await _form(request)
        try:
            account_id, version = await services.complete_activation(
                commune, token, form.get("password", ""), form.get("confirmation", "")
            )
        except Problems as exc:
            return _form_error(
                request,
                commune,
                "auth/set_password.html",
                exc,
                form,
                purpose="activation",
                token=token,
            )
        return await _signed_in_redirect(
            request,
            commune,
            account_id,
            version,
            persistent=False,
            target=commune.url("?info=activated"),
        )

    # --- Forgotten password --------------------------------------------------------------

    @get("/mot-de-passe-oublie", name="forgotten_password")
    async def reset_request_page(self, request: Request, commune: CommuneContext) -> Template:
        return page(request, commune, "auth/reset_request.html")

    @post("/mot-de-passe-oublie")
    async def request_reset(self, request: Request, commune: CommuneContext) -> Response[Any]:
        form = await _form(request)
        try:
            await services.request_password_reset(
                commune, form.get("email", ""), _ip(request), mailer(request)
            )
        except (Problems, RateLimited) as exc:
            return _form_error(
                request, commune, "auth/reset_request.html", exc, form, keep=("email",)
            )
        return Redirect(path=commune.url("mot-de-passe-oublie/envoye"), status_code=303)

    @get("/mot-de-passe-oublie/envoye")
    async def reset_sent(self, request: Request, commune: CommuneContext) -> Template:
        return page(request, commune, "auth/link_sent.html", purpose="reset")

    @get("/mot-de-passe/{token:str}")
    async def reset_form(self, request: Request, commune: CommuneContext, token: str) -> Template:
        return await _password_form(request, commune, token, "reset")

    @post("/mot-de-passe/{token:str}")
    async def reset(self, request: Request, commune: CommuneContext, token: str) -> Response[Any]:
        form = await _form(request)
        try:
            account_id, version = await services.complete_password_reset(
                commune, token, form.get("password", ""), form.get("confirmation", "")
            )
        except Problems as exc:
            return _form_error(
                request, commune, "auth/set_password.html", exc, form, purpose="reset", token=token
            )
        return await _signed_in_redirect(
            request,
            commune,
            account_id,
            version,
            persistent=False,
            target=commune.url("?info=password_reset"),
        )

    # --- Mes informations ----------------------------------------------------------------

    @get("/mes-informations", name="account")
    async def account_page(self, request: Request, commune: CommuneContext) -> Template:
        account = await require_account(request, commune)
        return await _account_page(request, commune, account)

    @post("/mes-informations/mot-de-passe")
    async def change_password(self, request: Request, commune: CommuneContext) -> Response[Any]:
        account = await require_account(request, commune)
        form = await _form(request)
        try:
            version = await services.change_password(
                commune,
                account.account_id,
                form.get("old_password", ""),
                form.get("new_password", ""),
                form.get("confirmation", ""),
            )
        except Problems as exc:
            return await _account_page(
                request,
                commune,
                account,
                block="password_section",
                errors=exc.errors,
                status_code=422,
            )
        # Every session ended with the change; this browser gets a fresh one, as long-lived as
        # the one it had ("Se souvenir de moi" survives a password change).
        persistent = account.persistent
        secret = await open_session(account.account_id, version, persistent=persistent)
        cookie = session_cookie(
            commune.root, secret, persistent=persistent, secure=_secure(request)
        )
        if is_htmx(request):
            response: Response[Any] = await _account_page(
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

    @post("/mes-informations/adresse")
    async def change_email(self, request: Request, commune: CommuneContext) -> Response[Any]:
        account = await require_account(request, commune)
        form = await _form(request)
        try:
            await services.request_email_change(
                commune,
                account.account_id,
                form.get("new_email", ""),
                form.get("password", ""),
                mailer(request),
            )
        except Problems as exc:
            return await _account_page(
                request,
                commune,
                account,
                block="email_section",
                errors=exc.errors,
                values={"new_email": form.get("new_email", "")},
                status_code=422,
            )
        if is_htmx(request):
            return await _account_page(
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
        self, request: Request, commune: CommuneContext, token: str
    ) -> Template:
        valid = await services.valid_token(commune, token, "email_change")
        return page(
            request,
            commune,
            "account/confirm_email.html",
            account=await current_account(request, commune),
            token=token,
            new_email=valid["new_email"] if valid else "",
            invalid=valid is None,
            status_code=200 if valid else 410,
        )

    @post("/adresse/{token:str}")
    async def confirm_email_change(
        self, request: Request, commune: CommuneContext, token: str
    ) -> Response[Any]:
        try:
            await services.confirm_email_change(commune, token, mailer(request))
        except Problems as exc:
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
        account = await current_account(request, commune)
        target = (
            "mes-informations?info=email_changed" if account else "connexion?info=email_changed"
        )
        return Redirect(path=commune.url(target), status_code=303)

    # --- Pages later issues fill ---------------------------------------------------------

    # GET /factures and the invoice pages: core.invoices.controllers.InvoiceController.
    # GET/POST /contact: core.contact.controllers.ContactController.


async def _password_form(
    request: Request, commune: CommuneContext, token: str, purpose: str
) -> Template:
    valid = await services.valid_token(commune, token, purpose)
    if valid is None:
        return page(request, commune, "auth/link_invalid.html", purpose=purpose, status_code=410)
    return page(
        request,
        commune,
        "auth/set_password.html",
        purpose=purpose,
        token=token,
        email=valid["email"],
    )


async def _account_page(
    request: Request,
    commune: CommuneContext,
    account: SignedIn,
    *,
    block: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    sections = [name for names in commune.hooks.account_sections(commune=commune) for name in names]
    context.setdefault("section_info", "")
    context.setdefault("alerts_info", "")
    context["alert_addresses"] = await alert_addresses.list_addresses(account.account_id)
    context["alerts_max"] = alert_addresses.MAX_PER_ACCOUNT
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


def _form_error(
    request: Request,
    commune: CommuneContext,
    template: str,
    exc: Problems | RateLimited,
    form: dict[str, str],
    *,
    keep: tuple[str, ...] = (),
    **context: Any,
) -> Template:
    """Show the form again with its errors and what the parent typed (never passwords)."""
    if isinstance(exc, RateLimited):
        errors, status = {"form": [str(exc)]}, 429
    else:
        errors, status = exc.errors, 422
    if "token" in errors:
        return page(request, commune, "auth/link_invalid.html", status_code=410, **context)
    values = {name: form.get(name, "") for name in keep}
    return page(
        request, commune, template, errors=errors, values=values, status_code=status, **context
    )
