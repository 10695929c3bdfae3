"""The application factory: `create_app(settings)` wires everything; importing does nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import jinja2
import msgspec
import pluggy
from litestar import Litestar, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.plugins.htmx import ClientRedirect, HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from litestar.template.config import TemplateConfig
from piccolo.engine.base import Engine

from core import i18n
from core.account_rights.controllers import AccountRightsController
from core.accounts.activation import ActivationController
from core.accounts.dependencies import current_account, require_account
from core.accounts.forgotten_password import PasswordResetController
from core.accounts.login import SessionController
from core.accounts.profile import ProfileController
from core.accounts.sessions import purge_expired_sessions
from core.alert_addresses.controllers import AlertAddressController
from core.announcements.controllers import AnnouncementController
from core.assets import STATIC_DIR
from core.backoffice.imports import fail_interrupted_imports
from core.backoffice.sessions import purge_expired_agent_sessions
from core.backoffice.suspension import request_cache_middleware
from core.backoffice.web.access import NotPermitted
from core.backoffice.web.agents import AgentController
from core.backoffice.web.announcements import ImportantMessageController, NewsController
from core.backoffice.web.api import ImportApiController
from core.backoffice.web.api_keys import ApiKeyController
from core.backoffice.web.auth import BackofficeAuthController
from core.backoffice.web.contact import ContactMessagesController
from core.backoffice.web.dashboard import DashboardController
from core.backoffice.web.families import FamilyController
from core.backoffice.web.imports import ImportController
from core.backoffice.web.invitations import InvitationController
from core.backoffice.web.journal import JournalController
from core.backoffice.web.payments import PaymentsController
from core.backoffice.web.suspension import SuspensionController
from core.communes.context import CommuneContext
from core.communes.controllers import IndexController, ThemeController
from core.communes.services import sync_communes
from core.config import ConfigError, PortalConfig, load_config, parse_config
from core.contact.controllers import ContactController
from core.db import close_database, open_database, use_database
from core.invoices.controllers import InvoiceController
from core.leader import Job, lead, leadership_for
from core.legal.controllers import LegalController, SourceController
from core.mail.health import purge_delivered
from core.mail.mailer import Mailer
from core.payments.checks import run_rechecks
from core.payments.controllers import PaymentController
from core.payments.service_routes import PaymentServiceController
from core.plugins import collect_plugin_settings, get_plugin_manager
from core.security import audit, throttle
from core.security.throttle import DatabaseStore
from core.settings import Settings, get_settings
from core.setup import commune_contexts, provider_problems
from core.web.connection import one_connection_per_request
from core.web.dependencies import (
    provide_commune,
    provide_config,
    provide_mailer,
    provide_settings,
    record_refusal,
)
from core.web.identity import LoginRequired
from core.web.render import is_htmx, render
from core.web.security import CSRF_COOKIE_NAME, CsrfMiddleware, SecurityHeaders
from core.web.templates import build_jinja_env

CSRF_HEADER = "x-csrftoken"

logger = logging.getLogger(__name__)


@dataclass
class Portal:
    """What handlers need beyond the request: kept on `app.state.portal`."""

    settings: Settings
    config: PortalConfig
    pm: pluggy.PluginManager
    env: jinja2.Environment
    plugin_types: dict[str, type]
    communes: dict[str, CommuneContext] = field(default_factory=dict)
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    def commune(self, slug: str) -> CommuneContext:
        """The one place a commune is resolved from a URL; unknown slugs are 404."""
        commune = self.communes.get(slug)
        if commune is None:
            raise NotFoundException()
        return commune


# What handlers receive by name (see core/web/dependencies.py and core/accounts/dependencies.py).
DEPENDENCIES = {
    "commune": Provide(provide_commune, sync_to_thread=False),
    "current_account": Provide(current_account),
    "account": Provide(require_account),
    "config": Provide(provide_config, sync_to_thread=False),
    "mailer": Provide(provide_mailer, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
}


def _redis_store(url: str) -> throttle.ThrottleStore:
    # Imported only with `REDIS_URL`: the client library adds some 10 MB to every process.
    from core.security.redis_throttle import RedisStore

    return RedisStore(url)


def create_app(
    settings: Settings | None = None,
    *,
    config: PortalConfig | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> Litestar:
    settings = settings or get_settings()
    pm = get_plugin_manager(extra_plugins, trace=settings.trace_plugins)
    plugin_types = collect_plugin_settings(pm)
    if config is None:
        config = load_config(settings.config_path, plugin_types)
    else:
        config = parse_config(msgspec.to_builtins(config), plugin_types)
    communes = commune_contexts(config, pm, plugin_types)
    problems = provider_problems(communes)
    if problems:
        raise ConfigError("; ".join(problems))
    engine = use_database(settings.database_url)
    throttle.use_store(_redis_store(settings.redis_url) if settings.redis_url else DatabaseStore())
    audit.configure(settings.security_log)  # JSON lines to stderr or PORTAIL_SECURITY_LOG
    env = build_jinja_env(settings, pm, source_url=config.source_url)
    portal = Portal(settings=settings, config=config, pm=pm, env=env, plugin_types=plugin_types)

    plugin_routes = [route for routes in pm.hook.register_routes() for route in routes]
    app = Litestar(
        route_handlers=[
            IndexController,
            ThemeController,
            SessionController,
            ActivationController,
            PasswordResetController,
            ProfileController,
            AccountRightsController,
            InvoiceController,
            PaymentController,
            PaymentServiceController,
            BackofficeAuthController,
            DashboardController,
            FamilyController,
            InvitationController,
            AgentController,
            JournalController,
            AnnouncementController,
            ContactController,
            AlertAddressController,
            ImportController,
            ApiKeyController,
            ImportApiController,
            PaymentsController,
            SuspensionController,
            ImportantMessageController,
            NewsController,
            ContactMessagesController,
            LegalController,
            SourceController,
            create_static_files_router(path="/static", directories=[STATIC_DIR], name="static"),
            *plugin_routes,
        ],
        dependencies=DEPENDENCIES,
        lifespan=[_lifespan(portal, engine, communes)],
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(env)),
        # CSRF through our subclass of Litestar's middleware (see `CsrfMiddleware`), so not
        # through `csrf_config=`, which would add Litestar's own as well.
        middleware=[
            DefineMiddleware(
                CsrfMiddleware,
                config=CSRFConfig(
                    secret=settings.secret_key,
                    cookie_name=CSRF_COOKIE_NAME,
                    cookie_secure=settings.secure_cookies,
                    cookie_httponly=True,
                    cookie_samesite="lax",
                    header_name=CSRF_HEADER,
                ),
            ),
            request_cache_middleware,
            one_connection_per_request,
        ],
        before_send=[SecurityHeaders(https=settings.base_url.startswith("https://"))],
        plugins=[HTMXPlugin()],
        # No OpenAPI schema pages: they told anyone the whole route table, and load scripts
        # from a CDN that the content security policy blocks anyway.
        openapi_config=None,
        exception_handlers={
            LoginRequired: _login_required,
            PermissionDeniedException: _forbidden,
            NotFoundException: _not_found,
            # Any other error: the French page with a reference (debug: Litestar's own page).
            **({} if settings.debug else {HTTP_500_INTERNAL_SERVER_ERROR: _server_error}),
        },
        debug=settings.debug,
        state=State({"portal": portal}),
    )
    return app


def _lifespan(
    portal: Portal, engine: Engine, communes: dict[str, CommuneContext]
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """Open the database and mirror the communes, run the background tasks; undo it all."""
    settings = portal.settings

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await open_database(engine)
        try:
            ids = await sync_communes(portal.config)
            portal.communes = {slug: replace(c, id=ids[slug]) for slug, c in communes.items()}
            # Imports a stopped process was publishing (not those another process publishes).
            await fail_interrupted_imports()
            # Every process sends: each message is claimed by one sender (core.mail.sender),
            # and a process's own e-mails wake its sender at once.
            if settings.run_outbox_sender:
                portal.background.append(asyncio.create_task(_run_outbox(settings)))
            # What must run once, however many processes share the database: one leads.
            jobs: list[Job] = [lambda: _housekeeping(settings)]
            if settings.payment_recheck_interval > 0:
                jobs.append(lambda: _payment_rechecks(portal))
            portal.background.append(asyncio.create_task(lead(leadership_for(engine), jobs)))
            yield
        finally:
            for task in portal.background:
                task.cancel()
            for task in portal.background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await throttle.current_store().close()
            await close_database(engine)

    return lifespan


async def _run_outbox(settings: Settings) -> None:
    # Imported here: the `emails` library (about 0.2 s to import) is loaded only by a process
    # that sends (PORTAIL_OUTBOX_SENDER), not by every worker or command.
    from core.mail.sender import OutboxSender

    await OutboxSender(settings).run(asyncio.Event())


async def _payment_rechecks(portal: Portal) -> None:
    communes = {commune.id: commune for commune in portal.communes.values()}
    mailer = Mailer(env=portal.env, base_url=portal.settings.base_url)
    await run_rechecks(communes, mailer, portal.settings.payment_recheck_interval)


HOUSEKEEPING_INTERVAL_SECONDS = 3600


async def housekeeping_round(settings: Settings) -> None:
    """Forget expired parents' and agents' sessions, rate-limit windows and old sent e-mails
    (one round)."""
    await purge_expired_sessions()
    await purge_expired_agent_sessions()
    await throttle.purge_expired()
    await purge_delivered(settings.outbox_retention_days)


async def _housekeeping(settings: Settings) -> None:
    """`housekeeping_round`, hourly; an error waits for the next round."""
    while True:
        # Sleep first: start-up stays quick, and a short-lived process never does this work.
        await asyncio.sleep(HOUSEKEEPING_INTERVAL_SECONDS)
        try:
            await housekeeping_round(settings)
        except Exception:
            logger.exception("housekeeping failed")


def _login_required(request: Request, exc: LoginRequired) -> Response[Any]:
    target = exc.target
    if is_htmx(request):
        return ClientRedirect(redirect_to=target)
    return Redirect(path=target, status_code=303)


def _forbidden(request: Request, exc: HTTPException) -> Response[Any]:
    # Litestar's CSRF middleware raises this for a missing or wrong token; the back office's
    # guard raises `NotPermitted` for a role without the route's permission.
    if isinstance(exc, NotPermitted):
        session = request.state.get("agent_session")
        record_refusal(request, "permission", agent=session.agent.id if session else None)
    else:
        record_refusal(request, "csrf")
    message = exc.detail if isinstance(exc, NotPermitted) else i18n.t("accounts.csrf_failed")
    return render(
        request, "errors/error.html", {"message": message, "commune": None}, status_code=403
    )


def _not_found(request: Request, exc: HTTPException) -> Response[Any]:
    return render(request, "errors/404.html", {"commune": None}, status_code=404)


# What a database that cannot be reached raises: refused or lost connections, a closed or full
# pool (asyncpg), a file SQLite cannot open or a lock it waited for too long. asyncpg's
# InternalClientError ("cannot switch to state …; another operation is in progress") is what a
# pooled connection cut by a server restart raises when it is used or released.
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    sqlite3.OperationalError,
)
RETRY_AFTER_SECONDS = 30


def _server_error(request: Request, exc: Exception) -> Response[Any]:
    """Any unhandled error (and Litestar's 500): the French page with a reference that the log
    carries with the details; 503 when the database cannot be reached. htmx gets the message
    alone, with the same status."""
    reference = secrets.token_hex(4).upper()
    down = _database_down(exc)
    logger.error(
        "%s (reference %s) on %s %s",
        "Database unavailable" if down else "Unhandled error",
        reference,
        request.method,
        audit.redact_path(request.url.path),
        exc_info=exc,
    )
    name, status = ("503", HTTP_503_SERVICE_UNAVAILABLE) if down else ("500", exc_status(exc))
    template = f"errors/_{name}.html" if is_htmx(request) else f"errors/{name}.html"
    response = render(
        request, template, {"commune": None, "reference": reference}, status_code=status
    )
    if down:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def exc_status(exc: Exception) -> int:
    """500, or the 5xx status of an HTTPException that reached this handler."""
    status = getattr(exc, "status_code", HTTP_500_INTERNAL_SERVER_ERROR)
    return status if isinstance(status, int) and status >= 500 else HTTP_500_INTERNAL_SERVER_ERROR


def _database_down(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from, says the database is unreachable."""
    seen: BaseException | None = exc
    for _ in range(5):  # the chain is short; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, DATABASE_DOWN):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
