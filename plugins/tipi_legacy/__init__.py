"""TIPI, the legacy plain-URL mode of the State's payment service (`paiement.web`).

Enabled per commune with `[communes.plugins.tipi_legacy]`. A payment provider
(`payment_providers`, `provider.py`) that sends the parent to `paiement.web` with the debt in
the query string. The service cannot be asked for a result, and its return is not signed
(payfip.md §1): it comes to the core's routes (`core.payments.service_routes`), which record a
matching "paid" as declared, to be confirmed by the next import; nothing is settled. The back
office lists those declared payments ("Paiements TIPI déclarés", `declared_routes.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.hookspecs import BackofficeSection, hookimpl
from core.i18n import t
from plugins.tipi_legacy.declared_routes import SECTION_PATH, TipiDeclaredController
from plugins.tipi_legacy.provider import PLUGIN_NAME, TipiProvider, TipiSettings

if TYPE_CHECKING:
    from core.communes.context import CommuneContext


@hookimpl
def register_catalogues() -> list[Path]:
    return [Path(__file__).resolve().parent / "locale" / "fr"]


@hookimpl
def register_piccolo_apps() -> list[str]:
    return ["plugins.tipi_legacy.piccolo_app"]


@hookimpl
def register_plugin_settings(register: Callable[[str, type], None]) -> None:
    register(PLUGIN_NAME, TipiSettings)


@hookimpl
def payment_providers(commune: CommuneContext) -> list[TipiProvider]:
    return [TipiProvider(commune.settings_of(PLUGIN_NAME))]


@hookimpl
def register_routes() -> list[Any]:
    from plugins.tipi_legacy.note_routes import TipiNoteController

    return [TipiNoteController, TipiDeclaredController]


@hookimpl
def backoffice_sections(commune: CommuneContext) -> list[BackofficeSection]:
    """The declared payments, for the agents who read payments (`declared.py`)."""
    return [
        BackofficeSection(
            t("tipi_legacy.backoffice.menu"), f"{SECTION_PATH}/", "payments.read", order=115
        )
    ]


# --- The personal note "j'ai réglé cette facture" (notes.py, note_routes.py) ------------------


@hookimpl
def template_directories() -> list[str]:
    return [str(Path(__file__).resolve().parent / "templates")]


@hookimpl
def invoice_actions(
    commune: CommuneContext, invoice: InvoiceView, account: SignedIn
) -> Coroutine[Any, Any, list[InvoiceAction]]:
    """The note's notice and the link to mark or unmark it, on an invoice still to pay (an
    awaitable: the note is read from the database)."""
    from plugins.tipi_legacy import notes

    return notes.invoice_actions(commune, invoice, account)


@hookimpl
def account_data_export(account_id: int) -> Coroutine[Any, Any, list[ExportSection]]:
    """The parent's notes, in their data export."""
    from plugins.tipi_legacy import notes

    return notes.export_section(account_id)


@hookimpl
def account_deleted(account_id: int) -> Coroutine[Any, Any, None]:
    """The parent's notes go with the account."""
    from plugins.tipi_legacy import notes

    return notes.forget(account_id)


if TYPE_CHECKING:  # for the annotations above, which are postponed (`from __future__`)
    from core.hookspecs import ExportSection, InvoiceAction
    from core.invoices.services import InvoiceView
    from core.web.identity import SignedIn
