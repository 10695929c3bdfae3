"""The files the portal reads at run time that live at the repository's top level.

`templates/`, `static/` and `examples/` stay where contributors expect them; the symbolic links
in this package map them into it, so the wheel ships them as package data and every install
(editable or not) finds them the same way, through `importlib.resources`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def asset_dir(name: str) -> Path:
    """The directory `name` (templates, static, examples) of the installed package.

    A real path, not a `Traversable`: Jinja's loader and Litestar's static files want one, and
    a wheel is always installed unpacked.
    """
    return Path(str(resources.files(__name__).joinpath(name)))


TEMPLATES_DIR = asset_dir("templates")
STATIC_DIR = asset_dir("static")
EXAMPLES_DIR = asset_dir("examples")
