"""Who may open a back-office page: one guard for every route under `/<commune>/gestion/`.

A back-office controller derives from `BackofficeController`. Its guard finds the agent behind
the session cookie (any other visitor goes to the login page), makes an agent whose second
factor is pending give it, makes an administrator without TOTP enrol, then checks the permission
the route names in `opt={"permission": ...}` (a route naming none is a programming error). The
handler then receives the agent as the `agent` dependency.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import ImproperlyConfiguredException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from core.backoffice.roles import can
from core.backoffice.sessions import COOKIE_NAME, SignedInAgent, agent_from_session
from core.backoffice.tables import ADMINISTRATEUR, SUPERVISEUR
from core.communes.context import CommuneContext
from core.i18n import t
from core.web.dependencies import provide_commune
from core.web.identity import LoginRequired

BACKOFFICE = "gestion/"
"""The back office of a commune lives under this path of the commune's root."""

# Roles that may not work without a second factor.
TOTP_REQUIRED = frozenset({ADMINISTRATEUR, SUPERVISEUR})

LOGIN_STEP = "connexion"
SECOND_FACTOR_STEP = "verification"
ENROLMENT_STEP = "double-authentification"


class NotPermitted(PermissionDeniedException):
    """The agent's role does not hold the route's permission (403, nothing else shown)."""

    def __init__(self) -> None:
        super().__init__(detail=t("backoffice.access.forbidden"))


def backoffice_root(commune: CommuneContext) -> str:
    return commune.url(BACKOFFICE)


async def signed_in_agent(connection: ASGIConnection[Any, Any, Any, Any]) -> SignedInAgent | None:
    """The agent behind the back-office cookie for the commune in the URL (looked up once)."""
    if "agent_session" not in connection.state:
        commune = provide_commune(connection, connection.path_params["slug"])  # type: ignore[arg-type]  # a guard has the connection
        connection.state.agent_session = await agent_from_session(
            connection.cookies.get(COOKIE_NAME), commune.id
        )
    return connection.state.agent_session


async def agent_guard(
    connection: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler
) -> None:
    permission = route_handler.opt.get("permission")
    if not permission:
        raise ImproperlyConfiguredException(f"{route_handler} names no permission")
    commune = provide_commune(connection, connection.path_params["slug"])  # type: ignore[arg-type]  # a guard has the connection
    root = backoffice_root(commune)
    session = await signed_in_agent(connection)
    if session is None:
        raise LoginRequired(root, LOGIN_STEP)
    if not session.full:
        raise LoginRequired(root, SECOND_FACTOR_STEP)
    if session.agent.role in TOTP_REQUIRED and not session.agent.totp_enabled:
        raise LoginRequired(root, ENROLMENT_STEP)
    if not can(session.agent, permission):
        raise NotPermitted()


def provide_agent(request: Request[Any, Any, Any]) -> SignedInAgent:
    """The agent the guard let in (the guard ran first, so it is there)."""
    session: SignedInAgent = request.state.agent_session
    return session


class BackofficeController(Controller):
    """Base of every back-office controller: the guard and the `agent` dependency.

    Subclasses set `path` under `/{slug:str}/gestion` and give each route
    `opt={"permission": "<name>"}` (see `core.backoffice.roles.PERMISSIONS`).
    """

    guards = [agent_guard]  # noqa: RUF012 - Litestar reads a list here
    dependencies = {"agent": Provide(provide_agent, sync_to_thread=False)}  # noqa: RUF012


def permission(name: str) -> dict[str, str]:
    """The `opt` of a route that needs `name`: `@get("/x", opt=permission("payments.read"))`."""
    return {"permission": name}
