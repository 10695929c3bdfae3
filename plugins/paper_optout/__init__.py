"""Paper opt-out: a parent asks to stop receiving paper invoices ("Ne pas recevoir les factures
au format papier"), or to receive them again; the billing service is told by e-mail.

- `account_sections` + `account_section_context`: the section of "Mes informations", showing
  the current choice and a link to change it;
- `register_routes`: `GET /<commune>/papier` (the confirmation step) and `POST` (applies the
  choice, e-mails the service in the same transaction); 404 where the plugin is off;
- `backoffice_sections` + `register_routes`: "Dématérialisation" in the back office
  (`backoffice.py`, `backoffice_routes.py`): the opt-outs and their CSV for the billing software;
- `template_directories`: `paper_optout/…` pages and the `mail/paper_optout_request.txt` e-mail;
- `payer_facts`: the "Factures papier" line of a family's page in the back office;
- `account_data_export`, `account_deleted`: the preference in the parent's data export, and
  gone with the account.

The choice is kept in the plugin's own table, `paper_preference` (Piccolo app
`plugins.paper_optout.piccolo_app`): no row means paper, the default.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from core.communes.context import CommuneContext
from core.hookspecs import BackofficeSection, ExportSection, hookimpl
from core.i18n import t
from core.web.identity import SignedIn
from plugins.paper_optout.backoffice_routes import SECTION_PATH, PaperOptoutBackofficeController
from plugins.paper_optout.routes import PaperOptoutController
from plugins.paper_optout.services import export_section, forget, section_context
from plugins.paper_optout.services import payer_facts as _payer_facts
from plugins.paper_optout.settings import (
    PLUGIN_NAME,
    PaperOptoutSettings,
    notify_address,
)

__all__ = ["PLUGIN_NAME", "PaperOptoutSettings", "notify_address"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@hookimpl
def register_catalogues() -> list[Path]:
    return [Path(__file__).resolve().parent / "locale" / "fr"]


@hookimpl
def register_piccolo_apps() -> list[str]:
    return ["plugins.paper_optout.piccolo_app"]


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, PaperOptoutSettings)


@hookimpl
def template_directories() -> list[str]:
    return [str(TEMPLATES_DIR)]


@hookimpl
def register_routes() -> list[Any]:
    return [PaperOptoutController, PaperOptoutBackofficeController]


@hookimpl
def backoffice_sections(commune: CommuneContext) -> list[BackofficeSection]:
    return [
        BackofficeSection(
            t("paper_optout.backoffice.menu"), f"{SECTION_PATH}/", "families.read", order=110
        )
    ]


@hookimpl
def account_sections() -> list[str]:
    return ["paper_optout/_section.html"]


@hookimpl
def account_section_context(account: SignedIn) -> Coroutine[Any, Any, dict[str, Any]]:
    return section_context(account.account_id)


@hookimpl
def payer_facts(
    commune: CommuneContext, payer_id: int
) -> Coroutine[Any, Any, list[tuple[str, str]]]:
    return _payer_facts(commune.id, payer_id)


@hookimpl
def account_data_export(account_id: int) -> Coroutine[Any, Any, list[ExportSection]]:
    return export_section(account_id)


@hookimpl
def account_deleted(account_id: int) -> Coroutine[Any, Any, None]:
    return forget(account_id)
