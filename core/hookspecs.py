"""The hooks a plugin can implement. This module is the whole plugin contract.

Plugins are registered once per process; a commune runs only the plugins its configuration
enables (see `core.plugins.CommuneHooks`). Implementations may accept fewer arguments than the
specification declares (pluggy's opt-in arguments), so hooks can gain arguments later.

Hooks are synchronous and declarative: they return objects, which may carry async methods.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pluggy

if TYPE_CHECKING:
    from core.communes.context import CommuneContext
    from core.invoices.services import InvoiceView
    from core.web.identity import SignedIn

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


@dataclass(frozen=True)
class BackofficeSection:
    """An entry of the agents' back-office menu.

    :param label: French label shown to the agent.
    :param path: Path relative to the commune's back office, e.g. ``"dematerialisation"``
        for ``/<commune>/gestion/dematerialisation``.
    :param permission: The permission an agent needs to see the entry (``core.backoffice.roles``);
        the section's routes check it again on the server.
    :param order: Position; lower comes first (core sections use 10 to 100).
    """

    label: str
    path: str
    permission: str
    order: int = 150


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


@hookspec
def register_piccolo_apps() -> Sequence[str]:
    """Return the Piccolo apps holding the plugin's tables, as module paths
    (``"plugins.tipi_legacy.piccolo_app"``: a module defining ``APP_CONFIG``).

    Each app declares ``migration_dependencies=["core.piccolo_app"]`` and keeps its migrations in
    its own folder; ``portail migrate`` runs them after the core ones. App names are unique.
    """


@hookspec
def register_catalogues() -> Sequence[str | Path]:
    """Return the plugin's French message catalogues: ``*.toml`` files or directories of them.

    The host loads them into ``core.i18n`` when it builds the plugin manager (never at import);
    a file's name is its namespace (``tipi_legacy.toml`` holds the ``tipi_legacy.…`` keys).
    """


# ---------------------------------------------------------------------------
# Request time: called through a commune's hook proxy, for enabled plugins only
# ---------------------------------------------------------------------------


@hookspec
def menu_items(commune: CommuneContext) -> Sequence[MenuItem]:
    """Return entries for the logged-in menu of ``commune``.

    Asked once per commune, then kept (``core.web.pages.parent_menu``): the entries may depend
    on the commune's configuration and enabled plugins, not on the request or the parent.

    :param commune: The commune being served.
    """


@hookspec
def backoffice_sections(commune: CommuneContext) -> Sequence[BackofficeSection]:
    """Return entries for the back-office menu of ``commune`` (the agents' side).

    A section's pages are routes the plugin registers with ``register_routes``, as controllers
    deriving from ``core.backoffice.web.access.BackofficeController`` under
    ``/{slug:str}/gestion/``: that base checks the agent's session and, for every route, the
    permission named in its ``opt={"permission": ...}``.

    :param commune: The commune being served.
    """


@hookspec
def account_sections(commune: CommuneContext) -> Sequence[str]:
    """Return template names rendered as extra sections of the "Mes informations" page.

    Each template receives ``commune``, ``account`` and ``csrf_input``.

    :param commune: The commune being served.
    """


@hookspec
def account_section_context(
    commune: CommuneContext, account: SignedIn
) -> Awaitable[Mapping[str, Any]] | None:
    """Return an awaitable (e.g. a coroutine) of extra variables for the sections of the
    "Mes informations" page: what a plugin's section shows of the account (a preference...).

    The host awaits every result and merges the mappings into the page's context, each time the
    page or one of its sections is rendered. Name the variables after the plugin
    (``paper_optout``) so they do not clash.

    :param commune: The commune being served.
    :param account: The signed-in account (``account.account_id``, ``account.email``).
    """


@hookspec
def payer_facts(
    commune: CommuneContext, payer_id: int
) -> Awaitable[Sequence[tuple[str, str]]] | None:
    """Return an awaitable (e.g. a coroutine) of ``(label, value)`` pairs shown on a family's
    page of the back office ("Familles"): what a plugin knows of a payer (a preference...).

    The host awaits every result and lists the pairs in the order the plugins answer. Labels
    and values are French text from the plugin's catalogue, shown as they are (escaped).

    :param commune: The commune being served.
    :param payer_id: The payer's id, a payer of ``commune`` (checked by the host).
    """


# ---------------------------------------------------------------------------
# The parent's rights: "Télécharger mes données" and "Supprimer mon compte"
# ---------------------------------------------------------------------------
#
# Called through `commune.hooks.all_plugins`: every registered plugin takes part, enabled for
# the commune or not, since a plugin switched off keeps its rows (a paper preference...).


@dataclass(frozen=True)
class ExportColumn:
    """A field of an export section.

    :param key: The field's name in the JSON file (``"changed_at"``).
    :param label: French label shown in the HTML page.
    :param kind: How the page shows the value: ``"text"``, ``"date"``, ``"datetime"``,
        ``"money"`` (integer cents) or ``"yes_no"`` (a boolean). The JSON file keeps the value
        itself (ISO 8601 for dates, cents for money).
    """

    key: str
    label: str
    kind: Literal["text", "date", "datetime", "money", "yes_no"] = "text"


@dataclass(frozen=True)
class ExportSection:
    """One part of an account's data export.

    :param key: The section's name in the JSON file; unique (prefix a plugin's with its name).
    :param title: French heading of the section in the HTML page.
    :param columns: The fields of each row, in the order the page shows them.
    :param rows: Mappings from column keys to values (text, numbers, booleans, dates, None).
        Never put a secret there: no password, token or session hash.
    :param single: ``True`` for a section that is one record (the JSON holds an object, not a
        list); ``rows`` then has one mapping, or none when there is nothing to say.
    :param truncated: ``True`` when the page shows only the newest rows (the file has them all).
    """

    key: str
    title: str
    columns: Sequence[ExportColumn]
    rows: Sequence[Mapping[str, Any]]
    single: bool = False
    truncated: bool = False


@hookspec
def account_data_export(
    commune: CommuneContext, account_id: int
) -> Awaitable[Sequence[ExportSection]] | None:
    """Return an awaitable (e.g. a coroutine) of the sections the plugin adds to the export of
    an account's data ("Télécharger mes données"): everything it keeps about the account.

    Called for every registered plugin, enabled for ``commune`` or not (a plugin switched off
    keeps its rows, so they are still the parent's data). Return ``None`` to add nothing.

    :param commune: The commune being served.
    :param account_id: The signed-in account, an account of ``commune``.
    """


@hookspec
def account_deleted(commune: CommuneContext, account_id: int) -> Awaitable[None] | None:
    """Return an awaitable (e.g. a coroutine) that deletes or unlinks what the plugin keeps
    about an account the parent is deleting ("Supprimer mon compte").

    The host awaits it inside the deletion's transaction, before the account's row goes: use
    the default connection (no transaction of your own), and raise to cancel the whole
    deletion. Called for every registered plugin, enabled for ``commune`` or not. Keep what
    belongs to the commune's accounting, without its link to the account.

    :param commune: The commune being served.
    :param account_id: The account being deleted, an account of ``commune``.
    """


# ---------------------------------------------------------------------------
# Invoices: what a parent may do with one invoice
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceAction:
    """Something shown with an invoice's detail: a link (an action) or a notice (information).

    :param label: French text shown to the parent.
    :param url: Where a ``"link"`` or ``"payment"`` action leads (absolute path); ``None`` for a
        notice.
    :param kind: ``"link"`` (a button-like link, e.g. "Télécharger le PDF"), ``"notice"`` (a
        sentence, e.g. "Ma facture est en prélèvement automatique") or ``"payment"`` (the link
        to pay online: the host drops it when the invoice is not payable, see
        ``invoice_is_payable``, or when an action ``blocks_payment``).
    :param order: Position; lower comes first (core: notices 10, PDF 20; payment: 30).
    :param blocks_payment: ``True`` when this action means online payment must not be offered
        (a suspension, a direct debit): every ``"payment"`` action is then left out.
    """

    label: str
    url: str | None = None
    kind: Literal["link", "notice", "payment"] = "link"
    order: int = 50
    blocks_payment: bool = False


@hookspec
def invoice_actions(
    commune: CommuneContext, invoice: InvoiceView, account: SignedIn
) -> Sequence[InvoiceAction] | Awaitable[Sequence[InvoiceAction]]:
    """Return the actions and notices shown with the detail of ``invoice`` (or an awaitable of
    them, e.g. a coroutine, when they depend on the database; the host awaits it).

    Called each time an invoice's detail is shown (its page, or the fragment opened from the
    list), only for an invoice the signed-in account may see. The host flattens the results,
    sorts them by ``order`` and, when the invoice is not payable (``invoice_is_payable``) or
    any action has ``blocks_payment``, leaves out the ``"payment"`` actions.

    :param commune: The commune being served.
    :param invoice: The invoice (``core.invoices.services.InvoiceView``): number, dates,
        amounts in cents, ``status``, ``direct_debit``, ``debit_on``, ``regie_code``...
    :param account: The signed-in account (``account.account_id``, ``account.email``).
    """


@hookspec(firstresult=True)
def invoice_is_payable(commune: CommuneContext, invoice: InvoiceView) -> bool | None:
    """Say whether ``invoice`` may be paid online. Stops at first non-None result.

    Return ``False`` to refuse (the payment action is then never offered), ``None`` to leave
    the decision to the others. ``True`` stops the call and overrides later implementations,
    so return it only to force payment; with no ``False`` anywhere, the invoice is payable.
    The core refuses invoices that are not "à régler", have nothing left to pay, or whose
    commune or régie has ``payment_suspended = true``.

    :param commune: The commune being served.
    :param invoice: The invoice (``core.invoices.services.InvoiceView``).
    """


# ---------------------------------------------------------------------------
# Online payment: a provider sends the parent to its service and reads results
# ---------------------------------------------------------------------------
#
# The core owns the basket, the attempts, the state machine, the settlement, and the routes the
# service comes back to (its notification, the browser's return: `core.payments.service_routes`).
# A provider builds the redirect (`start`), reads an attempt's result when its service can be
# asked (`fetch_outcome`), and says which attempt a notification or a return is about
# (`read_notification`, `read_return`); the core then asks the service
# (`core.payments.checks.refresh()`) or applies the unverified result the return brought
# (`core.payments.settlement.apply_outcome()`).


@dataclass(frozen=True)
class PaymentRequest:
    """One payment attempt, as a provider needs it to send the parent to its service.

    :param commune: The commune being served (``commune.settings_of(<plugin>)``...).
    :param regie_code: The régie paid.
    :param numcli: The régie's client number at the service (6 digits).
    :param refdet: This attempt's own reference: alphanumeric, 6 to 30 characters, unique.
    :param amount_cents: The total, in cents.
    :param email: The parent's e-mail address (``mel``): the service sends its own ticket there.
    :param objet: A label already normalised for the service (ASCII letters, digits, spaces).
    :param exer: The year, 4 digits.
    :param base_url: The portal's public URL.
    :param return_url: Where the service sends the parent's browser back (GET or POST): the
        core's route ``/<commune>/paiement/<provider name>/retour``, absolute.
    :param notification_url: Where the service posts its server-to-server notification: the
        core's route ``/<commune>/paiement/<provider name>/notification``, absolute.
    """

    commune: CommuneContext
    regie_code: str
    numcli: str
    refdet: str
    amount_cents: int
    email: str
    objet: str
    exer: str
    base_url: str
    return_url: str
    notification_url: str


@dataclass(frozen=True)
class PaymentRedirect:
    """Where to send the parent's browser (a GET, in the same tab), and what to remember.

    :param url: The service's payment page, with its parameters.
    :param provider_reference: The service's id for the operation (PayFiP's ``idop``), if any.
    :param saisie: The mode the service was asked for (test, activation, production); results
        must come back with the same one.
    """

    url: str
    provider_reference: str | None = None
    saisie: str = ""


PaymentResult = Literal["paid", "refused", "abandoned", "pending", "expired", "unknown"]


@dataclass(frozen=True)
class PaymentOutcome:
    """What is known of an attempt's result.

    :param result: ``"paid"``, ``"refused"``, ``"abandoned"``, ``"pending"`` (not known yet,
        or the service could not be asked: ask again later), ``"expired"`` (the service forgot
        the operation: it will never be paid) or ``"unknown"`` (a code the provider does not
        know: an agent must look; never treated as a failure).
    :param code: The service's code (``resultrans``, or a fault code), kept for the record.
    :param verified: ``True`` when the service itself said so (PayFiP's web service);
        ``False`` for what a browser brought back (TIPI's unsigned return): an unverified
        "paid" is recorded as declared, never settled.
    :param numcli: The client number the result is for (compared with the attempt's).
    :param refdet: The reference the result is for (compared with the attempt's).
    :param amount_cents: The amount paid, in cents (compared exactly), or ``None``.
    :param saisie: The mode of the result (compared with the attempt's: a test result never
        settles a production attempt).
    :param authorisation_number: The authorisation number of a payment (``numauto``).
    :param transaction_at: When the service recorded the transaction (aware datetime).
    :param by_direct_debit: ``True`` for a payment or refusal by prélèvement (``V``/``Z``).
    :param raw: Every field received, for the audit log.
    """

    result: PaymentResult
    code: str = ""
    verified: bool = False
    numcli: str = ""
    refdet: str = ""
    amount_cents: int | None = None
    saisie: str = ""
    authorisation_number: str = ""
    transaction_at: datetime | None = None
    by_direct_debit: bool = False
    raw: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceCall:
    """A request the payment service made to the portal (its notification), or the parent's
    browser made coming back from it (the return), as a provider reads it.

    :param query: The query string's parameters, in order (a name may repeat).
    :param form: The text fields of a form-encoded POST body, in order (empty for a GET).
    """

    query: Sequence[tuple[str, str]] = ()
    form: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class PaymentNotice:
    """Which attempt a notification or a return is about, and what it says of it.

    Give exactly one of ``provider_reference`` and ``refdet``; the core looks the attempt up
    among the provider's own attempts in the commune, and does nothing when it finds none.

    :param provider_reference: The service's id of the operation (PayFiP's ``idop``), as
        ``PaymentRedirect.provider_reference`` gave it.
    :param refdet: The attempt's own reference, for a service that gives no id of its own (TIPI).
    :param outcome: The result the request carries, for a service that cannot be asked (TIPI's
        return). The core applies it as unverified (``verified`` forced to ``False``): a "paid"
        is recorded as declared, never settled. ``None``: the core asks the service
        (``fetch_outcome``), the only source it trusts.
    """

    provider_reference: str = ""
    refdet: str = ""
    outcome: PaymentOutcome | None = None

    def __post_init__(self) -> None:
        if bool(self.provider_reference) == bool(self.refdet):
            raise ValueError("PaymentNotice needs one of provider_reference and refdet")


class PaymentStartFailed(Exception):
    """Raised by ``PaymentProvider.start`` when the service refused or could not be reached.

    :param message: French text for the parent, saying what to do.
    :param code: The service's code, for the record.
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class PaymentProvider(Protocol):
    """A payment service, as the core uses it. Returned by ``payment_providers``.

    A provider has no route of its own: the core receives the service's notification and the
    browser's return (``PaymentRequest.notification_url``, ``return_url``) and asks
    ``read_notification`` / ``read_return`` which attempt they name. See "Payment providers" in
    ``docs/plugin-hooks.md``.

    :ivar name: The plugin's name; a régie chooses its provider by it (``payment_provider``).
    :ivar label: Its name for parents ("PayFiP").
    :ivar verifies_results: Whether ``fetch_outcome`` can ask the service (PayFiP) or not (TIPI).
    :ivar max_amount_cents: The largest amount the service takes in one payment.
    :ivar direct_debit: Whether parents may pay by prélèvement there (PayFiP) or only by card
        (TIPI): the payment summary promises only what the service offers.
    :ivar form_origins: Origins the browser is sent to (allowed in the summary page's CSP).
    """

    name: str
    label: str
    verifies_results: bool
    max_amount_cents: int
    direct_debit: bool
    form_origins: Sequence[str]

    async def start(self, request: PaymentRequest) -> PaymentRedirect:
        """Register the attempt with the service if needed; say where to send the browser."""
        ...

    async def fetch_outcome(self, provider_reference: str) -> PaymentOutcome:
        """Ask the service for the result of an operation (``verified=True``)."""
        ...

    def read_notification(self, call: ServiceCall) -> PaymentNotice | None:
        """The attempt the service's notification names; ``None`` when it names none (or the
        service sends no notification). Read only what names the attempt: anything else a
        notification says is not to be trusted."""
        ...

    def read_return(self, call: ServiceCall) -> PaymentNotice | None:
        """The attempt the parent's browser comes back for (and, for a service that cannot be
        asked, the result it brings); ``None`` when it names none."""
        ...


@hookspec
def payment_providers(commune: CommuneContext) -> Sequence[PaymentProvider]:
    """Return the payment services this plugin offers to ``commune``.

    Each régie pays through the provider its configuration names (``payment_provider``), or
    through the only one enabled for the commune. Build providers from the plugin's settings
    for the commune (``commune.settings_of(<plugin>)``) and nothing else: the host calls this
    once per commune and configuration, and keeps what it returns until the configuration
    changes (a provider holds no per-request state).

    :param commune: The commune being served.
    """
