"""Signing in to the back office: login, the second factor, TOTP enrolment, logout, and the
page behind a set-password link. These routes are open to anyone (no guard); each checks
itself what it needs."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from core.backoffice import agents, totp
from core.backoffice.identity import AgentInfo, NotAllowed
from core.backoffice.sessions import (
    COOKIE_NAME,
    SignedInAgent,
    agent_session_cookie,
    end_agent_session,
    open_agent_session,
    rotate_after_second_factor,
)
from core.backoffice.web.access import (
    ENROLMENT_STEP,
    LOGIN_STEP,
    SECOND_FACTOR_STEP,
    TOTP_REQUIRED,
    backoffice_root,
    signed_in_agent,
)
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.i18n import t
from core.security import audit
from core.security.passwords import effective_min_length
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import Problems, form_fields
from core.web.identity import LoginRequired

LOGIN_TEMPLATE = "backoffice/login.html"
SECOND_FACTOR_TEMPLATE = "backoffice/second_factor.html"
ENROLMENT_TEMPLATE = "backoffice/totp_enrol.html"
SET_PASSWORD_TEMPLATE = "backoffice/set_password.html"  # noqa: S105 - a template name


def _redirect(
    target: str, cookie_secret: str | None = None, *, commune: CommuneContext, settings: Settings
) -> Response[Any]:
    response: Response[Any] = Redirect(path=target, status_code=303)
    if cookie_secret is not None:
        response.set_cookie(
            agent_session_cookie(commune.root, cookie_secret, secure=settings.secure_cookies)
        )
    return response


def next_step(commune: CommuneContext, agent: AgentInfo, *, verified: bool) -> str:
    """Where an agent goes once the password is right: the second factor, enrolment (roles
    that must have one), or the dashboard."""
    root = backoffice_root(commune)
    if agent.totp_enabled and not verified:
        return root + SECOND_FACTOR_STEP
    if agent.role in TOTP_REQUIRED and not agent.totp_enabled:
        return root + ENROLMENT_STEP
    return root


class BackofficeAuthController(Controller):
    path = "/{slug:str}/gestion"

    @get("/connexion", name="backoffice_login")
    async def login_page(self, request: Request, commune: CommuneContext) -> Response[Any]:
        session = await signed_in_agent(request)
        if session is not None and session.full:
            return Redirect(path=backoffice_root(commune), status_code=303)
        return backoffice_page(request, commune, None, LOGIN_TEMPLATE)

    @post("/connexion")
    async def login(
        self, request: Request, commune: CommuneContext, settings: Settings
    ) -> Response[Any]:
        form = await form_fields(request)
        client = client_address(request, settings)
        result = await agents.authenticate(
            commune, form.get("email", ""), form.get("password", ""), client
        )
        if isinstance(result, agents.LoginFailure):
            limited = result is agents.LoginFailure.RATE_LIMITED
            audit.record(
                "agent_login",
                "throttled" if limited else "failure",
                commune=commune.slug,
                client=client,
                email=form.get("email"),
            )
            status = 429 if limited else 422
            return backoffice_page(
                request,
                commune,
                None,
                LOGIN_TEMPLATE,
                errors={"form": [result.message]},
                values={"email": form.get("email", "")},
                status_code=status,
            )
        old = request.cookies.get(COOKIE_NAME)
        session = await signed_in_agent(request)
        if old and session is not None:
            await end_agent_session(session.session_hash)
        secret = await open_agent_session(result.id, result.auth_version)
        target = next_step(commune, result, verified=False)
        step = "password, second factor to come" if result.totp_enabled else "password"
        audit.record(
            "agent_login",
            "success",
            commune=commune.slug,
            client=client,
            agent=result.id,
            reason=step,
        )
        return _redirect(target, secret, commune=commune, settings=settings)

    @get("/verification", name="backoffice_second_factor")
    async def second_factor_page(self, request: Request, commune: CommuneContext) -> Template:
        await _pending_session(request, commune)
        return backoffice_page(request, commune, None, SECOND_FACTOR_TEMPLATE)

    @post("/verification")
    async def second_factor(
        self, request: Request, commune: CommuneContext, settings: Settings
    ) -> Response[Any]:
        session = await _pending_session(request, commune)
        form = await form_fields(request)
        client = client_address(request, settings)

        def log(outcome: str) -> None:
            audit.record(
                "agent_login",
                outcome,
                commune=commune.slug,
                client=client,
                agent=session.agent.id,
                reason="second factor",
            )

        try:
            secret = await totp.complete_second_factor(session, form.get("code", ""))
        except totp.SecondFactorRateLimited as exc:
            log("throttled")
            return _code_error(request, commune, None, SECOND_FACTOR_TEMPLATE, str(exc), 429)
        if secret is None:
            log("second_factor_failure")
            message = t("backoffice.totp.code_invalid")
            return _code_error(request, commune, None, SECOND_FACTOR_TEMPLATE, message, 422)
        log("success")
        return _redirect(backoffice_root(commune), secret, commune=commune, settings=settings)

    @get("/double-authentification", name="backoffice_totp")
    async def enrolment_page(self, request: Request, commune: CommuneContext) -> Template:
        session = await _full_session(request, commune)
        return await _enrolment_form(request, commune, session)

    @post("/double-authentification")
    async def enrol(
        self, request: Request, commune: CommuneContext, settings: Settings
    ) -> Response[Any]:
        session = await _full_session(request, commune)
        form = await form_fields(request)
        try:
            codes = await totp.confirm_enrolment(
                session.agent, form.get("code", ""), client_address(request, settings)
            )
        except NotAllowed:
            return Redirect(path=backoffice_root(commune), status_code=303)
        except totp.SecondFactorRateLimited as exc:
            return await _enrolment_form(request, commune, session, error=str(exc), status=429)
        except Problems as exc:
            message = "; ".join(m for messages in exc.errors.values() for m in messages)
            return await _enrolment_form(request, commune, session, error=message, status=422)
        secret = await rotate_after_second_factor(session)
        response = backoffice_page(
            request, commune, session, ENROLMENT_TEMPLATE, recovery_codes=codes
        )
        response.set_cookie(
            agent_session_cookie(commune.root, secret, secure=settings.secure_cookies)
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @post("/deconnexion", name="backoffice_logout")
    async def logout(
        self, request: Request, commune: CommuneContext, settings: Settings
    ) -> Response[Any]:
        session = await signed_in_agent(request)
        if session is not None:
            await end_agent_session(session.session_hash)
            audit.record(
                "agent_logout",
                "success",
                commune=commune.slug,
                client=client_address(request, settings),
                agent=session.agent.id,
            )
        response: Response[Any] = Redirect(
            path=backoffice_root(commune) + LOGIN_STEP + "?info=logged_out", status_code=303
        )
        response.set_cookie(agent_session_cookie(commune.root, "", secure=settings.secure_cookies))
        response.cookies[-1].max_age = 0
        return response

    @get("/mot-de-passe/{token:str}", name="backoffice_set_password")
    async def set_password_page(
        self, request: Request, commune: CommuneContext, token: str
    ) -> Template:
        agent = await agents.valid_password_token(commune, token)
        return _password_form(request, commune, token, invalid=agent is None)

    @post("/mot-de-passe/{token:str}")
    async def set_password(
        self, request: Request, commune: CommuneContext, token: str
    ) -> Response[Any]:
        form = await form_fields(request)
        try:
            await agents.set_password(
                commune, token, form.get("password", ""), form.get("confirmation", "")
            )
        except Problems as exc:
            if "token" in exc.errors:
                return _password_form(request, commune, token, invalid=True)
            return _password_form(request, commune, token, errors=exc.errors)
        target = backoffice_root(commune) + LOGIN_STEP + "?info=password_set"
        return Redirect(path=target, status_code=303)


async def _pending_session(request: Request, commune: CommuneContext) -> SignedInAgent:
    """A session whose password step is done (the second factor may still be missing)."""
    session = await signed_in_agent(request)
    if session is None:
        raise LoginRequired(backoffice_root(commune), LOGIN_STEP)
    if session.full:
        raise LoginRequired(backoffice_root(commune), "")
    return session


async def _full_session(request: Request, commune: CommuneContext) -> SignedInAgent:
    session = await signed_in_agent(request)
    if session is None:
        raise LoginRequired(backoffice_root(commune), LOGIN_STEP)
    if not session.full:
        raise LoginRequired(backoffice_root(commune), SECOND_FACTOR_STEP)
    return session


async def _enrolment_form(
    request: Request,
    commune: CommuneContext,
    session: SignedInAgent,
    *,
    error: str = "",
    status: int = 200,
) -> Template:
    if session.agent.totp_enabled:
        raise LoginRequired(backoffice_root(commune), "")
    secret = await totp.begin_enrolment(session.agent.id)
    uri = totp.provisioning_uri(secret, session.agent, commune)
    response = backoffice_page(
        request,
        commune,
        session,
        ENROLMENT_TEMPLATE,
        secret=secret,
        qr_svg=totp.qr_svg(uri),
        required=session.agent.role in TOTP_REQUIRED,
        recovery_codes=[],
        errors={"code": [error]} if error else {},
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _code_error(
    request: Request,
    commune: CommuneContext,
    session: SignedInAgent | None,
    template: str,
    message: str,
    status: int,
) -> Template:
    return backoffice_page(
        request, commune, session, template, errors={"code": [message]}, status_code=status
    )


def _password_form(
    request: Request,
    commune: CommuneContext,
    token: str,
    *,
    invalid: bool = False,
    errors: dict[str, list[str]] | None = None,
) -> Template:
    return backoffice_page(
        request,
        commune,
        None,
        SET_PASSWORD_TEMPLATE,
        token=token,
        invalid=invalid,
        min_length=effective_min_length(commune.config.password_min_length),
        errors=errors or {},
        status_code=410 if invalid else (422 if errors else 200),
    )
