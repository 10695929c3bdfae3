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

from core.communes.context import CommuneContext
from core.hookspecs import MenuItem, hookimpl
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


@hookimpl
def register_routes() -> list[object]:
    return [children_page]


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
