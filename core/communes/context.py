"""The commune being served, as handlers and hooks see it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.config import CommuneConfig


@dataclass(frozen=True)
class CommuneContext:
    id: int
    config: CommuneConfig
    hooks: Any = field(repr=False)
    """A `core.plugins.CommuneHooks`: `pm.hook` as this commune sees it. Typed `Any`, as its
    hook callers are; importing it would close a loop (hookspecs -> this module -> plugins)."""
    plugin_settings: dict[str, Any] = field(default_factory=dict, repr=False)
    _kept: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """What `kept` computed, by name."""

    def kept(self, name: str, compute: Callable[[], Any]) -> Any:
        """`compute()`'s value, computed at the first call for this commune and then kept: for
        what depends on the commune's configuration only (which a new configuration replaces
        with new contexts)."""
        if name not in self._kept:
            self._kept[name] = compute()
        return self._kept[name]

    @property
    def slug(self) -> str:
        return self.config.slug

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def root(self) -> str:
        """The commune's URL prefix, with its trailing slash."""
        return f"/{self.config.slug}/"

    def url(self, path: str = "") -> str:
        return self.root + path.lstrip("/")

    def enabled(self, plugin_name: str) -> bool:
        return plugin_name in self.plugin_settings

    def settings_of(self, plugin_name: str) -> Any:
        """The typed settings of an enabled plugin (KeyError when it is not enabled)."""
        return self.plugin_settings[plugin_name]
