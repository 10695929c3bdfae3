"""The plugin's name and its settings per commune (`[communes.plugins.paper_optout]`)."""

from __future__ import annotations

import msgspec

from core.communes.context import CommuneContext

PLUGIN_NAME = "paper_optout"


class PaperOptoutSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    notify_email: str = ""  # where requests go; empty: the commune's contact address


def notify_address(commune: CommuneContext) -> str:
    """Where requests are e-mailed: the plugin's `notify_email`, else the commune's contact."""
    settings: PaperOptoutSettings = commune.settings_of(PLUGIN_NAME)
    return settings.notify_email or commune.config.contact.email
