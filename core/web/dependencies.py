"""What handlers receive by name (Litestar dependency injection), besides the parent's account
(`core.accounts.dependencies`): `commune`, `config`, `settings`, `mailer`.

The values come from the `Portal` the app factory keeps on `app.state.portal`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request
from litestar.di import Provide
from litestar.exceptions import NotFoundException

from core.communes.context import CommuneContext
from core.config import PortalConfig
from core.mail.mailer import Mailer
from core.security import audit
from core.settings import Settings
from core.web.security import client_ip


def _portal(request: Request) -> Any:
    return request.app.state.portal


def provide_commune(request: Request, slug: str) -> CommuneContext:
    """The one place a commune is resolved from a URL; unknown slugs are 404."""
    return _portal(request).commune(slug)


def provide_config(request: Request) -> PortalConfig:
    return _portal(request).config


def provide_settings(request: Request) -> Settings:
    return _portal(request).settings


def provide_mailer(request: Request) -> Mailer:
    return mailer(request)


def mailer(request: Request) -> Mailer:
    """A `Mailer` for this app (for code that does not receive the `mailer` dependency)."""
    portal = _portal(request)
    return Mailer(env=portal.env, base_url=portal.settings.base_url)


def background_tasks(request: Request) -> list[asyncio.Task[Any]]:
    """The app's background tasks, which the server cancels when it stops."""
    tasks: list[asyncio.Task[Any]] = _portal(request).background
    return tasks


def commune_with(plugin_name: str) -> Provide:
    """A `commune` dependency for a plugin's controller: 404 where the plugin is not enabled.

    Dependencies that need the commune (the parent's `account`) are resolved after it, so a
    disabled plugin answers 404 before anyone is asked to log in.
    """

    def provide(request: Request, slug: str) -> CommuneContext:
        commune = provide_commune(request, slug)
        if not commune.enabled(plugin_name):
            raise NotFoundException()
        return commune

    return Provide(provide, sync_to_thread=False)


def client_address(request: Request, settings: Settings) -> str:
    """The client's address for rate limits (from X-Forwarded-For only behind our own proxies,
    `PORTAIL_TRUSTED_PROXY_HOPS`)."""
    return client_ip(request, settings.trusted_proxy_hops)


def record_refusal(
    request: Request, event: str, *, account: int | None = None, agent: int | None = None
) -> None:
    """A refused request in the security log: where it came from, the method and the path
    (link tokens masked), and who made it when that is known."""
    audit.record(
        event,
        "refused",
        commune=str(request.path_params.get("slug", "")),
        client=client_address(request, _portal(request).settings),
        account=account,
        agent=agent,
        method=request.method,
        path=request.url.path,
    )
