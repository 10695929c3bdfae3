"""A fake plugin that owns a table, as a third-party plugin would: its Piccolo app and migration,
its message catalogue, its template and its page all live in this folder and reach the portal
only through hooks (`register_piccolo_apps`, `register_catalogues`, `template_directories`,
`register_routes`).

Registered by the tests with `extra_plugins=[("extra_tables", extra_tables)]` and enabled per
commune with `[communes.plugins.extra_tables]`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
from litestar import get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from core.communes.context import CommuneContext
from core.hookspecs import hookimpl
from tests.plugins.extra_tables.tables import Child

PLUGIN_NAME = "extra_tables"
HERE = Path(__file__).resolve().parent
PICCOLO_APP = "tests.plugins.extra_tables.piccolo_app"
CATALOGUE = HERE / "locale" / "fr" / "extra_tables.toml"  # a file: directories work too
TEMPLATES_DIR = HERE / "templates"


class ExtraTablesSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, ExtraTablesSettings)


@hookimpl
def register_piccolo_apps() -> list[str]:
    return [PICCOLO_APP]


@hookimpl
def register_catalogues() -> list[Path]:
    return [CATALOGUE]


@hookimpl
def template_directories() -> list[str]:
    return [str(TEMPLATES_DIR)]


@get("/{slug:str}/inscrits", name="extra_tables_children")
async def children_page(commune: CommuneContext) -> Template:
    if not commune.enabled(PLUGIN_NAME):
        raise NotFoundException()
    rows = await Child.select(Child.name).order_by(Child.name)
    return Template(
        template_name="extra_tables/children.html",
        context={"commune": commune, "names": [row["name"] for row in rows]},
    )


@hookimpl
def register_routes() -> list[object]:
    return [children_page]
