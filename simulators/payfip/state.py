"""What the simulator remembers: operations, notifications sent, and the behaviour knobs.

Everything lives in memory on one `SimulatorState`, shared by the web service, the payment
pages and the control endpoints. Mutations never await in the middle, so one event loop
needs no lock; tests may read the state from another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

import httpx

from simulators.payfip.validation import NUMCLI_RE

logger = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")

Notifier = Callable[[str, dict[str, str]], Awaitable[None]]
"""Delivers one notification: `(urlnotif, form fields)`; the default posts it with httpx."""

NotificationMode = Literal["send", "lose", "duplicate"]
NotificationField = Literal["idop", "idOp", "alternate"]
ReturnMethod = Literal["GET", "POST"]
Kind = Literal["payfip", "tipi"]

RESULT_CODES = ("P", "V", "R", "Z", "A")
"""P paid by card, V paid by direct debit, R card refused, Z debit refused, A abandoned."""
AUTHORISED_CODES = ("P", "V")
TIPI_RESULT_CODES = ("P", "R", "A")
TECHNICAL_KINDS = (
    "TechDysfonctionnementErreur",
    "TechIndisponibiliteErreur",
    "TechProtocolaireErreur",
)
OPERATION_NAMES = (
    "creerPaiementSecurise",
    "recupererDetailPaiementSecurise",
    "recupererDetailClient",
)
DEFAULT_CLIENT_LABELS = (
    "REGIE CANTINE SIMULEE",
    "COMMUNE DE DEMONSTRATION",
    "RESTAURATION SCOLAIRE",
)
DEFAULT_MAX_AMOUNT = 9_999_999


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Operation:
    """One payment request: a PayFiP idop, or a TIPI page session (never visible as an idop)."""

    idop: str
    kind: Kind
    numcli: str
    exer: str
    refdet: str
    objet: str
    montant: str
    mel: str
    saisie: str
    created_at: datetime
    urlnotif: str = ""
    urlredirect: str = ""
    urlcl: str = ""
    resultrans: str | None = None
    numauto: str | None = None
    dattrans: str | None = None
    heurtrans: str | None = None
    page_seen: bool = False
    notification_lost: bool = False
    questions: int = 0
    """How many times recupererDetailPaiementSecurise asked about it (whatever the answer)."""

    @property
    def finished(self) -> bool:
        return self.resultrans is not None

    def detail(self) -> dict[str, str]:
        """recupererDetailPaiementSecurise's `return`, in the XSD's order; empty fields omitted."""
        values = {
            "dattrans": self.dattrans,
            "exer": self.exer,
            "heurtrans": self.heurtrans,
            "idOp": self.idop,
            "mel": self.mel,
            "montant": self.montant,
            "numauto": self.numauto,
            "numcli": self.numcli,
            "objet": self.objet,
            "refdet": self.refdet,
            "resultrans": self.resultrans,
            "saisie": self.saisie,
        }
        return {name: value for name, value in values.items() if value}

    def tipi_return_fields(self) -> dict[str, str]:
        """What TIPI sends back to urlcl; numauto only for a paid operation."""
        fields = {
            "numcli": self.numcli,
            "exer": self.exer,
            "refdet": self.refdet,
            "objet": self.objet,
            "montant": self.montant,
            "mel": self.mel,
            "saisie": self.saisie,
            "resultrans": self.resultrans or "",
        }
        if self.numauto:
            fields["numauto"] = self.numauto
        fields["dattrans"] = self.dattrans or ""
        fields["heurtrans"] = self.heurtrans or ""
        return fields

    def to_json(self) -> dict[str, Any]:
        return {
            "idop": self.idop,
            "kind": self.kind,
            "numcli": self.numcli,
            "exer": self.exer,
            "refdet": self.refdet,
            "objet": self.objet,
            "montant": self.montant,
            "mel": self.mel,
            "saisie": self.saisie,
            "urlnotif": self.urlnotif,
            "urlredirect": self.urlredirect,
            "urlcl": self.urlcl,
            "created_at": self.created_at.isoformat(),
            "resultrans": self.resultrans,
            "numauto": self.numauto,
            "dattrans": self.dattrans,
            "heurtrans": self.heurtrans,
            "page_seen": self.page_seen,
            "notification_lost": self.notification_lost,
            "questions": self.questions,
        }


@dataclass
class NotificationRecord:
    """One notification POST, kept so tests can check what the portal was told and when."""

    idop: str
    url: str
    body: dict[str, str]
    sent_at: datetime
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "idop": self.idop,
            "url": self.url,
            "body": self.body,
            "sent_at": self.sent_at.isoformat(),
            "error": self.error,
        }


@dataclass(frozen=True)
class QueuedFault:
    """A fault the next SOAP call answers instead of its normal result.

    `kind` is "FonctionnelleErreur" or one of the Tech*Erreur classes; `operation` limits it to
    one operation name (None: whichever call comes next); `idop` limits it to the calls about
    one operation (its `idOp` field), so a test's fault is not taken by a background check of
    another payment.
    """

    code: str
    operation: str | None = None
    kind: str = "FonctionnelleErreur"
    libelle: str | None = None
    idop: str | None = None

    @classmethod
    def parse(cls, item: str | QueuedFault | Mapping[str, Any]) -> QueuedFault:
        """Accept "P5", "TechIndisponibiliteErreur", a QueuedFault or a JSON object."""
        if isinstance(item, QueuedFault):
            return item
        if isinstance(item, str):
            if item in TECHNICAL_KINDS:
                return cls(code="", kind=item)
            return cls(code=item)
        if isinstance(item, Mapping):
            unknown = set(item) - {"code", "operation", "kind", "libelle", "idop"}
            if unknown:
                raise ValueError(f"unknown fault fields: {sorted(unknown)}")
            code = str(item.get("code") or "")
            kind = str(item.get("kind") or "FonctionnelleErreur")
            if code in TECHNICAL_KINDS:
                code, kind = "", code
            operation = item.get("operation")
            libelle = item.get("libelle")
            idop = item.get("idop")
            fault = cls(
                code=code,
                operation=str(operation) if operation else None,
                kind=kind,
                libelle=str(libelle) if libelle else None,
                idop=str(idop) if idop else None,
            )
            fault.check()
            return fault
        raise ValueError(f"not a fault: {item!r}")

    def check(self) -> None:
        if self.kind != "FonctionnelleErreur" and self.kind not in TECHNICAL_KINDS:
            raise ValueError(f"unknown fault kind: {self.kind}")
        if self.kind == "FonctionnelleErreur" and not self.code:
            raise ValueError("a functional fault needs a code")
        if self.operation is not None and self.operation not in OPERATION_NAMES:
            raise ValueError(f"unknown operation: {self.operation}")

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "code": self.code,
            "operation": self.operation,
            "kind": self.kind,
            "libelle": self.libelle,
        }
        if self.idop is not None:
            found["idop"] = self.idop
        return found


KNOBS = (
    "notifications",
    "duplicates",
    "notification_delay",
    "notification_field",
    "return_method",
    "tipi_return_method",
    "fault_queue",
    "known_numcli",
    "client_labels",
    "max_amount",
)
"""Knobs settable over HTTP (POST /_simulateur/comportement) and by `configure()`."""


@dataclass(eq=False)
class SimulatorState:
    """The simulator's memory and behaviour; tests set the knobs directly or with `configure()`."""

    notifications: NotificationMode = "send"
    """send: one notification; lose: none; duplicate: `duplicates` copies at once."""
    duplicates: int = 5
    notification_delay: float = 0.0
    """Seconds before notifications leave, in a background task (0: before the redirect)."""
    notification_field: NotificationField = "idop"
    """Field name of the notification body; "alternate" switches idop/idOp at every POST."""
    return_method: ReturnMethod = "GET"
    """How the browser goes back to urlredirect: 303 redirect, or an auto-submitted POST form."""
    tipi_return_method: ReturnMethod = "POST"
    """How the browser goes back to urlcl (the real TIPI posts a form)."""
    fault_queue: list[str | QueuedFault] = field(default_factory=list)
    """Faults answered by the next SOAP calls, one per call (see QueuedFault.parse)."""
    known_numcli: set[str] | None = None
    """Client numbers the service knows (T2 otherwise); None: every 6-digit number."""
    client_labels: tuple[str, str, str] = DEFAULT_CLIENT_LABELS
    """libelleN1..N3 answered by recupererDetailClient."""
    max_amount: int = DEFAULT_MAX_AMOUNT
    """Largest amount in cents (M5 above)."""
    idop_lifetime: timedelta = timedelta(minutes=15)
    """After this, the payment page refuses an unpaid idop (its detail stays P5)."""
    notify: Notifier | None = None
    """Notification sender; None posts with httpx."""
    notify_timeout: float = 5.0
    clock: Callable[[], datetime] = utc_now
    """Aware datetime of "now"; tests replace it to age operations."""

    operations: dict[str, Operation] = field(default_factory=dict)
    tipi_operations: dict[str, Operation] = field(default_factory=dict)
    notification_log: list[NotificationRecord] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _notifications_sent: int = field(default=0, repr=False)

    # ---- knobs -------------------------------------------------------------------------

    def knobs(self) -> dict[str, Any]:
        """The knobs as JSON-ready values."""
        return {
            "notifications": self.notifications,
            "duplicates": self.duplicates,
            "notification_delay": self.notification_delay,
            "notification_field": self.notification_field,
            "return_method": self.return_method,
            "tipi_return_method": self.tipi_return_method,
            "fault_queue": [QueuedFault.parse(f).to_json() for f in self.fault_queue],
            "known_numcli": sorted(self.known_numcli) if self.known_numcli is not None else None,
            "client_labels": list(self.client_labels),
            "max_amount": self.max_amount,
        }

    def configure(self, **knobs: Any) -> None:
        """Set knobs from untrusted values (the control endpoint); ValueError if one is wrong.

        Every value is checked before any is applied, so a bad request changes nothing.
        """
        unknown = set(knobs) - set(KNOBS)
        if unknown:
            raise ValueError(f"unknown knobs: {sorted(unknown)}")
        checked = {name: _check_knob(name, value) for name, value in knobs.items()}
        for name, value in checked.items():
            setattr(self, name, value)

    def reset(self) -> None:
        """Forget every operation and notification, and put the knobs back to their defaults."""
        defaults = SimulatorState()
        for name in KNOBS:
            setattr(self, name, getattr(defaults, name))
        self.operations.clear()
        self.tipi_operations.clear()
        self.notification_log.clear()
        self._notifications_sent = 0

    def queue_fault(self, code: str, operation: str | None = None) -> None:
        """Make the next SOAP call (of `operation`, if given) answer this fault."""
        fault = QueuedFault.parse(code)
        fault = QueuedFault(fault.code, operation, fault.kind, fault.libelle, fault.idop)
        fault.check()
        self.fault_queue.append(fault)

    def count_question(self, operation: str, idop: str | None) -> None:
        """Note a question about a result (tests count them: one per due re-check)."""
        known = self.operations.get(idop or "")
        if operation == "recupererDetailPaiementSecurise" and known is not None:
            known.questions += 1

    def take_fault(self, operation: str, idop: str | None = None) -> QueuedFault | None:
        """Remove and return the first queued fault that applies to this call (about `idop`)."""
        for index, item in enumerate(self.fault_queue):
            fault = QueuedFault.parse(item)
            if fault.operation in (None, operation) and fault.idop in (None, idop):
                del self.fault_queue[index]
                return fault
        return None

    # ---- operations ------------------------------------------------------------------

    def create_operation(self, fields: Mapping[str, str]) -> Operation:
        """Record a validated creerPaiementSecurise request under a fresh idop."""
        operation = Operation(
            idop=str(uuid.uuid4()),
            kind="payfip",
            numcli=fields.get("numcli", ""),
            exer=fields.get("exer", ""),
            refdet=fields.get("refdet", ""),
            objet=fields.get("objet", ""),
            montant=fields.get("montant", ""),
            mel=fields.get("mel", ""),
            saisie=fields.get("saisie", ""),
            urlnotif=fields.get("urlnotif", ""),
            urlredirect=fields.get("urlredirect", ""),
            created_at=self.clock(),
        )
        self.operations[operation.idop] = operation
        return operation

    def create_tipi_operation(self, params: Mapping[str, str]) -> Operation:
        """Record a validated TIPI page visit; its id only travels in the page's forms."""
        operation = Operation(
            idop=uuid.uuid4().hex,
            kind="tipi",
            numcli=params.get("numcli", ""),
            exer=params.get("exer", ""),
            refdet=params.get("refdet", ""),
            objet=params.get("objet", ""),
            montant=params.get("montant", ""),
            mel=params.get("mel", ""),
            saisie=params.get("saisie", ""),
            urlcl=params.get("urlcl", ""),
            created_at=self.clock(),
            page_seen=True,
        )
        self.tipi_operations[operation.idop] = operation
        return operation

    def is_expired(self, operation: Operation) -> bool:
        return not operation.finished and self.clock() - operation.created_at > self.idop_lifetime

    def set_result(self, idop: str, code: str) -> Operation:
        """Settle an operation (PayFiP or TIPI) without the page and without notifying.

        Results are final, as on the real service: settling twice raises ValueError.
        """
        operation = self.operations.get(idop) or self.tipi_operations.get(idop)
        if operation is None:
            raise KeyError(idop)
        allowed = RESULT_CODES if operation.kind == "payfip" else TIPI_RESULT_CODES
        if code not in allowed:
            raise ValueError(f"unknown result code {code!r}, expected one of {allowed}")
        if operation.finished:
            raise ValueError(f"operation {idop} is already finished ({operation.resultrans})")
        moment = self.clock().astimezone(PARIS)
        operation.resultrans = code
        operation.dattrans = moment.strftime("%d%m%Y")
        operation.heurtrans = moment.strftime("%H%M")
        if code in AUTHORISED_CODES:
            if operation.kind == "payfip":
                operation.numauto = f"{secrets.randbelow(10**12):012d}-tip"
            else:
                operation.numauto = f"{secrets.randbelow(10**8):08d}"
        return operation

    async def complete(self, idop: str, code: str) -> Operation:
        """Settle an operation as the payment page does: record it, then notify urlnotif."""
        operation = self.set_result(idop, code)
        if operation.kind == "payfip":
            await self.send_notifications(operation)
        return operation

    def purge(self) -> int:
        """Forget every operation, like the nightly job: their idops now answer P1."""
        count = len(self.operations) + len(self.tipi_operations)
        self.operations.clear()
        self.tipi_operations.clear()
        return count

    # ---- notifications ------------------------------------------------------------------

    def notifications_for(self, idop: str) -> list[NotificationRecord]:
        return [record for record in self.notification_log if record.idop == idop]

    async def send_notifications(self, operation: Operation) -> None:
        """Notify urlnotif as the knobs say; with a delay, in the background."""
        if not operation.urlnotif:
            return
        if self.notifications == "lose":
            operation.notification_lost = True
            logger.info("notification for %s lost on purpose", operation.idop)
            return
        copies = self.duplicates if self.notifications == "duplicate" else 1
        bodies = [{self._next_field(): operation.idop} for _ in range(max(copies, 1))]
        if self.notification_delay > 0:
            task = asyncio.create_task(self._send_later(operation, bodies, self.notification_delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._send_all(operation, bodies)

    async def wait_notifications(self) -> None:
        """Wait until delayed notifications are sent (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_pending(self) -> None:
        """Drop notifications still waiting for their delay (shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _next_field(self) -> str:
        self._notifications_sent += 1
        if self.notification_field == "alternate":
            return "idop" if self._notifications_sent % 2 else "idOp"
        return self.notification_field

    async def _send_later(
        self, operation: Operation, bodies: list[dict[str, str]], delay: float
    ) -> None:
        await asyncio.sleep(delay)
        await self._send_all(operation, bodies)

    async def _send_all(self, operation: Operation, bodies: list[dict[str, str]]) -> None:
        await asyncio.gather(*(self._send_one(operation, body) for body in bodies))

    async def _send_one(self, operation: Operation, body: dict[str, str]) -> None:
        """Errors are logged and recorded, never raised: the payment page must not fail."""
        record = NotificationRecord(operation.idop, operation.urlnotif, body, self.clock())
        try:
            await (self.notify or self._post_with_httpx)(operation.urlnotif, body)
        except Exception as exc:
            record.error = repr(exc)
            logger.warning("notification to %s failed: %r", operation.urlnotif, exc)
        self.notification_log.append(record)

    async def _post_with_httpx(self, url: str, body: dict[str, str]) -> None:
        # trust_env=False: a proxy from the environment must not intercept loopback calls.
        async with httpx.AsyncClient(timeout=self.notify_timeout, trust_env=False) as client:
            response = await client.post(url, data=body)
            response.raise_for_status()


def _check_knob(name: str, value: Any) -> Any:
    """Validate one knob value from JSON and convert it to the attribute's type."""
    choices = {
        "notifications": get_args(NotificationMode),
        "notification_field": get_args(NotificationField),
        "return_method": get_args(ReturnMethod),
        "tipi_return_method": get_args(ReturnMethod),
    }
    if name in choices:
        if name.endswith("return_method") and isinstance(value, str):
            value = value.upper()
        if value not in choices[name]:
            raise ValueError(f"{name} must be one of {list(choices[name])}")
        return value
    if name in ("duplicates", "max_amount"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer")
        return value
    if name == "notification_delay":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3600:
            raise ValueError("notification_delay must be a number of seconds between 0 and 3600")
        return float(value)
    if name == "fault_queue":
        if not isinstance(value, list):
            raise ValueError("fault_queue must be a list")
        return [QueuedFault.parse(item) for item in value]
    if name == "known_numcli":
        if value is None:
            return None
        if not isinstance(value, list) or not all(
            isinstance(item, str) and NUMCLI_RE.fullmatch(item) for item in value
        ):
            raise ValueError("known_numcli must be null or a list of 6-digit strings")
        return set(value)
    if name == "client_labels":
        if not (isinstance(value, list) and len(value) == 3):
            raise ValueError("client_labels must be a list of 3 strings")
        if not all(isinstance(item, str) for item in value):
            raise ValueError("client_labels must be a list of 3 strings")
        return tuple(value)
    raise ValueError(f"unknown knob: {name}")  # pragma: no cover - KNOBS lists every name


def asgi_notifier(app: Callable[..., Awaitable[None]]) -> Notifier:
    """A notifier that delivers to an in-process ASGI app (e.g. the portal under test)."""

    async def notify(url: str, body: dict[str, str]) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.post(url, data=body)
            response.raise_for_status()

    return notify
