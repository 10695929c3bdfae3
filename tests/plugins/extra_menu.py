"""A fake plugin exercising every hook: settings, a page, templates, a menu entry, a section.

Registered by the tests with `create_app(..., extra_plugins=[("extra_menu", extra_menu)])` and
enabled per commune with `[communes.plugins.extra_menu]`, exactly like a third-party plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.hookspecs import BackofficeSection, MenuItem, hookimpl
from core.web.dependencies import commune_with
from core.web.pages import page

PLUGIN_NAME = "extra_menu"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


class ExtraMenuSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    label: str = "Mes enfants"
    order: int = 40


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, ExtraMenuSettings)


@get("/{slug:str}/enfants", name="extra_menu_children")
async def children_page(request: Request, commune: CommuneContext) -> Template:
    if not commune.enabled(PLUGIN_NAME):
        raise NotFoundException()
    return page(request, commune, "extra_menu/children.html")


class ChildrenBackofficeController(BackofficeController):
    """A back-office section: the base controller's guard checks the agent and the permission."""

    path = "/{slug:str}/gestion/enfants"
    dependencies = {  # noqa: RUF012 - Litestar reads a dict here
        **BackofficeController.dependencies,
        "commune": commune_with(PLUGIN_NAME),
    }

    @get("/", name="extra_menu_backoffice", opt=permission("families.read"))
    async def children_section(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        return backoffice_page(request, commune, agent, "extra_menu/backoffice.html")


@hookimpl
def register_routes() -> list[object]:
    return [children_page, ChildrenBackofficeController]


@hookimpl
def backoffice_sections(commune: CommuneContext) -> list[BackofficeSection]:
    return [BackofficeSection("Enfants inscrits", "enfants/", "families.read", order=60)]


@hookimpl
def template_directories() -> list[str]:
    return [str(TEMPLATES_DIR)]


@hookimpl
def menu_items(commune: CommuneContext) -> list[MenuItem]:
    settings: ExtraMenuSettings = commune.settings_of(PLUGIN_NAME)
    return [MenuItem(label=settings.label, path="enfants", order=settings.order)]


@hookimpl
def account_sections() -> list[str]:  # fewer arguments than the spec: pluggy allows it
    return ["extra_menu/section.html"]
