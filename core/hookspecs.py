"""The hooks a plugin can implement. This module is the whole plugin contract.

Plugins are registered once per process; a commune runs only the plugins its configuration
enables (see `core.plugins.CommuneHooks`). Implementations may accept fewer arguments than the
specification declares (pluggy's opt-in arguments), so hooks can gain arguments later.

Hooks are synchronous and declarative: they return objects, which may carry async methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from core.communes.context import CommuneContext

PROJECT_NAME = "portail"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@dataclass(frozen=True)
class MenuItem:
    """An entry of the logged-in parent's menu.

    :param label: French label shown to the parent.
    :param path: Path relative to the commune's root, e.g. ``"factures"``.
    :param order: Position; lower comes first (core entries use 10, 20, 30).
    """

    label: str
    path: str
    order: int = 50


# ---------------------------------------------------------------------------
# Start-up: what plugins bring to the application
# ---------------------------------------------------------------------------


@hookspec
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    """Declare the typed per-commune settings of a plugin.

    Call ``register(name, settings_type)`` where ``name`` is the plugin's configuration key
    (``[communes.plugins.<name>]``) and ``settings_type`` a ``msgspec.Struct`` describing the
    table. Configuration loading rejects unknown plugins and settings that do not convert.

    :param register: Callback owned by the host; it refuses a name registered twice.
    """


@hookspec
def register_routes() -> Sequence[Any]:
    """Return Litestar route handlers, ``Controller`` classes or ``Router`` instances to mount.

    Paths that start with ``/{slug:str}/`` are commune pages: declare a ``commune:
    CommuneContext`` parameter to get the resolved commune (unknown slugs are 404), and check that
    the plugin is enabled for it (``commune.enabled("<name>")``) before doing anything. (A path
    parameter named ``commune`` would clash with that dependency.)
    """


@hookspec
def template_directories() -> Sequence[str]:
    """Return directories of Jinja templates contributed by the plugin.

    Plugin templates are looked up after the core ones; keep them namespaced in a folder
    named after the plugin (``payfip/…``).
    """


# ---------------------------------------------------------------------------
# Request time: called through a commune's hook proxy, for enabled plugins only
# ---------------------------------------------------------------------------


@hookspec
def menu_items(commune: CommuneContext) -> Sequence[MenuItem]:
    """Return entries for the logged-in menu of ``commune``.

    :param commune: The commune being served.
    """


@hookspec
def account_sections(commune: CommuneContext) -> Sequence[str]:
    """Return template names rendered as extra sections of the "Mes informations" page.

    Each template receives ``commune``, ``account`` and ``csrf_input``.

    :param commune: The commune being served.
    """
