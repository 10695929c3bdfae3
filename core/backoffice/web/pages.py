"""A back-office page: the template, plus its layout's needs (the agent, the menu the agent's
role may see, the flash notice). Parents' pages use `core.web.pages.page` the same way."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from core.backoffice.roles import can
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import backoffice_root
from core.communes.context import CommuneContext
from core.hookspecs import BackofficeSection
from core.web.pages import commune_page


def sections(commune: CommuneContext, agent: SignedInAgent) -> list[BackofficeSection]:
    """The menu entries of every enabled plugin (core ones included) the agent may open."""
    entries = (
        section
        for found in commune.hooks.backoffice_sections(commune=commune)
        for section in found
        if can(agent.agent, section.permission)
    )
    return sorted(entries, key=lambda section: section.order)


def backoffice_menu(
    request: Request[Any, Any, Any], commune: CommuneContext, agent: SignedInAgent
) -> list[dict[str, Any]]:
    """The menu as the layout reads it; the entry whose path starts the URL is current."""
    root = backoffice_root(commune)
    path = request.url.path.rstrip("/")
    menu = []
    for section in sections(commune, agent):
        href = root + section.path
        base = href.rstrip("/")
        # The dashboard is the root: current only there; a section, on all its pages.
        current = path == base or (section.path != "" and path.startswith(base + "/"))
        menu.append({"label": section.label, "href": href, "current": current})
    return menu


def backoffice_page(
    request: Request[Any, Any, Any],
    commune: CommuneContext,
    agent: SignedInAgent | None,
    template: str,
    *,
    block: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """Render a back-office page for `agent` (None on the sign-in pages)."""
    response = commune_page(
        request,
        commune,
        template,
        account=None,
        menu=[],
        block=block,
        status_code=status_code,
        agent=agent.agent if agent else None,
        bo_menu=backoffice_menu(request, commune, agent) if agent else [],
        **context,
    )
    if agent is not None:  # an agent's pages show personal data: never cached
        response.headers["Cache-Control"] = "no-store"
    return response
