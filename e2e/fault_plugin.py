"""A test-only plugin for the e2e server: two routes that fail, so that the French error pages
(500, and 503 with `Retry-After`) can be opened in a browser and checked by axe-core.

It is never part of an install: the e2e harness writes an entry point for it (group
`portail`, see `install_fault_plugin`) into a temporary directory that only the e2e server's
PYTHONPATH holds, and the portal loads it like any third-party plugin. The route walk test and
every other process never see these routes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from litestar import get

from core.hookspecs import hookimpl

PLUGIN_NAME = "e2e_faults"
ERROR_500_PATH = "/_e2e/erreur-500"
ERROR_503_PATH = "/_e2e/erreur-503"


@get(ERROR_500_PATH, name="e2e_error_500")
async def unexpected_error() -> None:
    raise RuntimeError("e2e: an unexpected error, raised on purpose")


@get(ERROR_503_PATH, name="e2e_error_503")
async def database_down() -> None:
    # What SQLite raises when its file cannot be opened: the portal answers 503.
    raise sqlite3.OperationalError("e2e: unable to open database file (raised on purpose)")


@hookimpl
def register_routes() -> list[object]:
    return [unexpected_error, database_down]


def install_fault_plugin(directory: Path) -> Path:
    """Write a distribution's metadata declaring this module as a `portail` plugin into
    `directory`; put `directory` (and the repository) on a process's PYTHONPATH to load it."""
    dist_info = directory / "portail_e2e_faults-0.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: portail-e2e-faults\nVersion: 0\n", "utf-8"
    )
    (dist_info / "entry_points.txt").write_text(f"[portail]\n{PLUGIN_NAME} = {__name__}\n", "utf-8")
    return directory
