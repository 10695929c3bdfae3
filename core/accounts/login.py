"""The home page (the login form for a visitor), logging in and out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from core.accounts import devices, services
from core.accounts.responses import form_error, signed_in_redirect
from core.accounts.sessions import COOKIE_NAME, cleared_cookie, end_session
from core.announcements import services as announcements
from core.communes.context import CommuneContext
from core.mail.addresses import normalise_email
from core.payments.providers import providers
from core.security import audit
from core.security.tokens import digest
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import Problems, RateLimited, form_fields
from core.web.identity import SignedIn
from core.web.pages import page

LOGIN_TEMPLATE = "auth/login.html"


async def _login_page(request: Request, commune: CommuneContext) -> Template:
    """The login form, with the commune's important message and news beside it."""
    return page(request, commune, LOGIN_TEMPLATE, **await announcements.login_context(commune.id))


class SessionController(Controller):
    path = "/{slug:str}"

    @get("/", name="home")
    async def home(
        self, request: Request, commune: CommuneContext, current_account: SignedIn | None
    ) -> Template:
        if current_account is None:
            return await _login_page(request, commune)
        return page(
            request,
            commune,
            "home.html",
            account=current_account,
            payment_services=sorted({p.label for p in providers(commune).values()}),
            **await announcements.home_context(commune.id, current_account.account_id),
        )

    @get("/connexion", name="login")
    async def login_page(
        self, request: Request, commune: CommuneContext, current_account: SignedIn | None
    ) -> Template | Redirect:
        if current_account is not None:
            return Redirect(path=commune.root, status_code=303)
        return await _login_page(request, commune)

    @post("/connexion")
    async def login(
        self, request: Request, commune: CommuneContext, settings: Settings
    ) -> Response[Any]:
        form = await form_fields(request)
        email = normalise_email(form.get("email", ""))
        known = devices.is_known(
            settings.secret_key, commune.slug, email, request.cookies.get(devices.COOKIE_NAME)
        )
        client = client_address(request, settings)
        try:
            logged_in = await services.authenticate(
                commune, form.get("email", ""), form.get("password", ""), client, known_device=known
            )
        except (Problems, RateLimited) as exc:
            outcome = "throttled" if isinstance(exc, RateLimited) else "failure"
            audit.record(
                "login", outcome, commune=commune.slug, client=client, email=form.get("email")
            )
            return form_error(
                request,
                commune,
                LOGIN_TEMPLATE,
                exc,
                form,
                keep=("email",),
                **await announcements.login_context(commune.id),
            )
        audit.record(
            "login", "success", commune=commune.slug, client=client, account=logged_in.account_id
        )
        response = await signed_in_redirect(
            request,
            commune,
            settings,
            logged_in.account_id,
            logged_in.auth_version,
            persistent=form.get("remember") == "on",
            target=commune.root,
            display_name=logged_in.holder_name,
        )
        # This browser is now a known device of the address (for 90 days from this login).
        value = devices.cookie_value(settings.secret_key, commune.slug, email)
        response.set_cookie(
            devices.device_cookie(commune.root, value, secure=settings.secure_cookies)
        )
        return response

    @post("/deconnexion", name="logout")
    async def logout(
        self, request: Request, commune: CommuneContext, settings: Settings
    ) -> Response[Any]:
        secret = request.cookies.get(COOKIE_NAME)
        if secret:
            account_id = await end_session(digest(secret))
            if account_id is not None:
                client = client_address(request, settings)
                audit.record(
                    "logout", "success", commune=commune.slug, client=client, account=account_id
                )
        response: Response[Any] = Redirect(
            path=commune.url("connexion?info=logged_out"), status_code=303
        )
        response.set_cookie(cleared_cookie(commune.root, secure=settings.secure_cookies))
        return response
