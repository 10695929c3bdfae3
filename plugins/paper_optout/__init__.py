"""Paper opt-out: a parent asks to stop receiving paper invoices ("Ne pas recevoir les factures
au format papier"), or to receive them again; the billing service is told by e-mail.

- `account_sections` + `account_section_context`: the section of "Mes informations", showing
  the current choice and a link to change it;
- `register_routes`: `GET /<commune>/papier` (the confirmation step) and `POST` (applies the
  choice, e-mails the service in the same transaction); 404 where the plugin is off;
- `template_directories`: `paper_optout/…` pages and the `mail/paper_optout_request.txt` e-mail.

The choice is kept in the plugin's own table, `paper_preference` (Piccolo app
`plugins.paper_optout.piccolo_app`): no row means paper, the default.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from core.hookspecs import hookimpl

if TYPE_CHECKING:
    from core.accounts.sessions import SignedIn
    from core.communes.context import CommuneContext

PLUGIN_NAME = "paper_optout"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@hookimpl
def register_catalogues() -> list[Path]:
    return [Path(__file__).resolve().parent / "locale" / "fr"]


@hookimpl
def register_piccolo_apps() -> list[str]:
    return ["plugins.paper_optout.piccolo_app"]


class PaperOptoutSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    notify_email: str = ""  # where requests go; empty: the commune's contact address


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, PaperOptoutSettings)


@hookimpl
def template_directories() -> list[str]:
    return [str(TEMPLATES_DIR)]


@hookimpl
def register_routes() -> list[Any]:
    from plugins.paper_optout.routes import PaperOptoutController

    return [PaperOptoutController]


@hookimpl
def account_sections() -> list[str]:
    return ["paper_optout/_section.html"]


@hookimpl
def account_section_context(account: SignedIn) -> Coroutine[Any, Any, dict[str, Any]]:
    from plugins.paper_optout.services import section_context

    return section_context(account.account_id)


def notify_address(commune: CommuneContext) -> str:
    """Where requests are e-mailed: the plugin's `notify_email`, else the commune's contact."""
    settings: PaperOptoutSettings = commune.settings_of(PLUGIN_NAME)
    return settings.notify_email or commune.config.contact.email
