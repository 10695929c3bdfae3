"""An async client for the PayFiP Régie web service (SOAP 1.1, document/literal).

Why our own client rather than eopayment or zeep: eopayment is synchronous, pulls in zeep and lxml,
and is AGPL with an unclear licence statement (payfip.md §6). The contract is tiny (three
operations, flat string fields), so a hand-written envelope and a safe parser are easier to audit
than a generic SOAP stack. Protocol facts come from payfip.md §2 and the DGFiP WSDL/XSD shipped by
eopayment.

Error model, as the payment core needs it (payfip.md §5):
- `PayfipError` is a SOAP fault the service chose to send. A `FonctionnelleErreur` (P1, P5, R3,
  A2...) is an answer; any `Tech*Erreur` or unknown fault is `technical`: retry later, never
  treat the payment as failed.
- `PayfipUnavailable` means we have no usable answer at all (network, HTTP error page, broken or
  hostile XML). The outcome is unknown and the call may be retried.
- `ValueError` is raised before anything is sent when the caller passes a value PayFiP would
  refuse anyway, so bad configuration shows up locally with a clear message.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import defusedxml
import defusedxml.ElementTree as SafeElementTree
import httpx

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 15.0

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PAYFIP_NS = (
    "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/"
    "contrat_paiement_securise/PaiementSecuriseService"
)

# Real answers are under 2 KB; anything far bigger is not PayFiP talking: refuse to buffer it.
MAX_RESPONSE_BYTES = 1024 * 1024

FAULT_KINDS = frozenset(
    {
        "FonctionnelleErreur",
        "TechDysfonctionnementErreur",
        "TechIndisponibiliteErreur",
        "TechProtocolaireErreur",
    }
)

_PARIS = ZoneInfo("Europe/Paris")

# [0-9] rather than \d everywhere: \d also matches non-ASCII digits, which int() would accept.
_NUMCLI_RE = re.compile(r"[0-9]{6}")
_REFDET_RE = re.compile(r"[A-Za-z0-9]{6,30}")
_EXER_RE = re.compile(r"[0-9]{4}")
_IDOP_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
_URL_RE = re.compile(r"https?://\S+", re.IGNORECASE)
_DIGITS_RE = re.compile(r"[0-9]+")
_DATTRANS_RE = re.compile(r"[0-9]{8}")
_HEURTRANS_RE = re.compile(r"[0-9]{4}")
_INT_RE = re.compile(r"-?[0-9]+")
# Characters XML 1.0 cannot carry at all, even escaped (control characters, lone surrogates...).
_XML_INVALID_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SAISIE_VALUES = ("T", "X", "W")


# ---------------------------------------------------------------------------------------------
# Results and errors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentDetail:
    """The `<return>` of recupererDetailPaiementSecurise: the only trustworthy payment status.

    Every value is kept as the text received (no int conversion of numcli or montant) so the
    payment core compares exactly what PayFiP said with what it stored, and nothing is lost for
    the audit log.
    """

    idop: str
    resultrans: str  # P, V paid; R, Z refused; A abandoned; anything else kept as given
    numcli: str
    refdet: str
    montant: str
    saisie: str
    numauto: str = ""
    dattrans: str = ""
    heurtrans: str = ""
    exer: str = ""
    mel: str = ""
    objet: str = ""
    raw: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # A read-only copy, so the frozen detail really cannot change after the audit log saw it.
        object.__setattr__(self, "raw", MappingProxyType(dict(self.raw)))

    @property
    def amount_cents(self) -> int | None:
        """The amount in cents, or None when montant is not a plain ASCII integer."""
        if _DIGITS_RE.fullmatch(self.montant):
            return int(self.montant)
        return None

    @property
    def transaction_at(self) -> datetime | None:
        """dattrans (DDMMYYYY) + heurtrans (HHMM), Paris local time, as an aware datetime."""
        if not (_DATTRANS_RE.fullmatch(self.dattrans) and _HEURTRANS_RE.fullmatch(self.heurtrans)):
            return None
        try:
            naive = datetime.strptime(self.dattrans + self.heurtrans, "%d%m%Y%H%M")
        except ValueError:
            return None
        return naive.replace(tzinfo=_PARIS)


@dataclass(frozen=True)
class ClientDetail:
    """The `<return>` of recupererDetailClient, used to check a régie's numcli is known."""

    numcli: str
    libelle_n1: str
    libelle_n2: str
    libelle_n3: str


class PayfipError(Exception):
    """A SOAP fault from PayFiP.

    `code` is PayFiP's own code (P1, P5, R3, A2...), "" if the fault carried none. `kind` is the
    fault class (detail element name, else faultstring), "" if it is none of the four the WSDL
    declares.
    """

    def __init__(
        self, code: str = "", message: str = "", *, severity: int | None = None, kind: str = ""
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.severity = severity
        self.kind = kind

    @property
    def technical(self) -> bool:
        """True unless the fault is a FonctionnelleErreur: the outcome is unknown, retry later."""
        return self.kind != "FonctionnelleErreur"

    def __str__(self) -> str:
        label = self.kind or "SOAP fault"
        return f"{label} {self.code or '(no code)'}: {self.message}"


class PayfipUnavailable(Exception):
    """The service could not be reached or answered something that is not a SOAP envelope.

    Timeouts, connection errors, an HTTP error without a SOAP fault, unparseable or unsafe XML
    (DTD, entities), an oversized body or a response missing its result. The outcome is unknown.
    """


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _local_name(tag: str) -> str:
    """The tag without its namespace, so we never depend on the prefixes a server picks."""
    return tag.rsplit("}", 1)[-1]


def _child(element: Element, name: str) -> Element | None:
    for child in element:
        if isinstance(child.tag, str) and _local_name(child.tag) == name:
            return child
    return None


def _fields(element: Element) -> dict[str, str]:
    """Flat child elements as {local name: text}; the first occurrence wins."""
    values: dict[str, str] = {}
    for child in element:
        if isinstance(child.tag, str):
            values.setdefault(_local_name(child.tag), child.text or "")
    return values


def _xml_text(name: str, value: str) -> str:
    if _XML_INVALID_RE.search(value):
        raise ValueError(f"{name} contains a character that XML cannot carry")
    return escape(value)


def _build_envelope(operation: str, fields: Sequence[tuple[str, str]]) -> bytes:
    """A SOAP 1.1 request: wrapper in the PayFiP namespace, `<arg0>` and its fields unqualified.

    Field names come from this module only; every value is checked and XML-escaped.
    """
    payload = "".join(f"<{name}>{_xml_text(name, value)}</{name}>" for name, value in fields)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" xmlns:pf="{PAYFIP_NS}">'
        f"<soapenv:Body><pf:{operation}><arg0>{payload}</arg0></pf:{operation}></soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def _fault_error(fault: Element) -> PayfipError:
    """Turn a SOAP 1.1 Fault into a PayfipError, keeping what the detail says."""
    faultstring = _fields(fault).get("faultstring", "")
    detail = _child(fault, "detail")
    error: Element | None = None
    if detail is not None:
        elements = [child for child in detail if isinstance(child.tag, str)]
        error = next(
            (child for child in elements if _local_name(child.tag).endswith("Erreur")),
            elements[0] if elements else None,
        )
    values = _fields(error) if error is not None else {}

    kind = ""
    if error is not None and _local_name(error.tag) in FAULT_KINDS:
        kind = _local_name(error.tag)
    else:
        # "fr.gouv.finances.cp.tpa.webservice.exceptions.FonctionnelleErreur"
        class_name = faultstring.strip().rsplit(".", 1)[-1]
        if class_name in FAULT_KINDS:
            kind = class_name

    severite = values.get("severite", "").strip()
    severity = int(severite) if _INT_RE.fullmatch(severite) else None
    message = (
        values.get("libelle") or values.get("message") or values.get("descriptif") or faultstring
    ).strip()
    return PayfipError(values.get("code", "").strip(), message, severity=severity, kind=kind)


def _read_response(content: bytes, status_code: int, operation: str) -> Element:
    """The `<return>` element of a successful answer, or the matching exception.

    A fault wins over the HTTP status (PayFiP sends faults with 500); any other non-2xx answer,
    or a body that is not a SOAP 1.1 envelope, means the service is unavailable.
    """
    try:
        root = SafeElementTree.fromstring(
            content, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except (ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
        raise PayfipUnavailable(
            f"PayFiP {operation}: HTTP {status_code} with a body that is not safe XML"
        ) from exc
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise PayfipUnavailable(f"PayFiP {operation}: HTTP {status_code} without a SOAP envelope")
    body = root.find(f"{{{SOAP_ENV_NS}}}Body")
    if body is None:
        raise PayfipUnavailable(f"PayFiP {operation}: SOAP envelope without a Body")
    fault = body.find(f"{{{SOAP_ENV_NS}}}Fault")
    if fault is not None:
        error = _fault_error(fault)
        logger.debug("PayFiP %s fault: kind=%s code=%s", operation, error.kind, error.code)
        raise error
    if not 200 <= status_code < 300:
        raise PayfipUnavailable(f"PayFiP {operation}: HTTP {status_code} without a SOAP fault")
    wrapper = _child(body, f"{operation}Response")
    result = _child(wrapper, "return") if wrapper is not None else None
    if result is None:
        raise PayfipUnavailable(f"PayFiP {operation}: answer without {operation}Response/return")
    return result


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_str_matching(value: object, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


class _BorrowedTransport(httpx.AsyncBaseTransport):
    """Lends the caller's transport to a short-lived AsyncClient without letting it close it.

    Closing the per-call client would otherwise close a transport the caller still owns.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """The caller owns the transport and closes it."""


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


class PayfipClient:
    """Calls the three PayFiP Régie operations over HTTPS (certificate verification on).

    One httpx client per call: payments are rare, and this keeps no connection or state between
    a payment's creation and its lookups.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`timeout` (seconds) bounds each network phase and the whole call; `transport` is for
        tests (httpx.MockTransport) and stays open, since the caller owns it.
        """
        _require(_is_str_matching(url, _URL_RE), "url must be an http(s):// URL")
        _require(timeout > 0, "timeout must be positive")
        self.url = url
        self.timeout = float(timeout)
        self._transport = transport

    async def create_payment(
        self,
        *,
        numcli: str,
        refdet: str,
        amount_cents: int,
        mel: str,
        saisie: str,
        urlnotif: str,
        urlredirect: str,
        exer: str | int,
        objet: str = "",
    ) -> str:
        """creerPaiementSecurise: register a payment and return its idOp.

        `objet` is sent as given (escaped) and omitted when empty; pass it through
        `core.payments.text.normalize_objet` first, since PayFiP refuses special characters there.
        """
        _require(_is_str_matching(numcli, _NUMCLI_RE), "numcli must be 6 digits")
        _require(_is_str_matching(refdet, _REFDET_RE), "refdet must be 6 to 30 letters or digits")
        _require(
            isinstance(amount_cents, int)
            and not isinstance(amount_cents, bool)
            and amount_cents >= 1,
            "amount_cents must be an int of at least 1",
        )
        _require(isinstance(mel, str) and mel != "", "mel must be a non-empty string")
        _require(saisie in _SAISIE_VALUES, "saisie must be T (test), X (activation) or W")
        _require(_is_str_matching(urlnotif, _URL_RE), "urlnotif must be an http(s):// URL")
        _require(_is_str_matching(urlredirect, _URL_RE), "urlredirect must be an http(s):// URL")
        exer_text = str(exer) if isinstance(exer, int) and not isinstance(exer, bool) else exer
        _require(_is_str_matching(exer_text, _EXER_RE), "exer must be a 4-digit year")
        _require(isinstance(objet, str), "objet must be a string")

        # Field order of CreerPaiementSecuriseRequest in the XSD.
        fields: list[tuple[str, str]] = [
            ("exer", str(exer_text)),
            ("mel", mel),
            ("montant", str(amount_cents)),
            ("numcli", numcli),
        ]
        if objet:
            fields.append(("objet", objet))
        fields += [
            ("refdet", refdet),
            ("saisie", saisie),
            ("urlnotif", urlnotif),
            ("urlredirect", urlredirect),
        ]
        logger.debug(
            "PayFiP creerPaiementSecurise: refdet=%s amount_cents=%d saisie=%s",
            refdet,
            amount_cents,
            saisie,
        )
        result = await self._call("creerPaiementSecurise", fields)
        idop = (_fields(result).get("idOp") or "").strip()
        if not _IDOP_RE.fullmatch(idop):
            # An idOp we could not look up later is as good as none.
            raise PayfipUnavailable("PayFiP creerPaiementSecurise: answer without a usable idOp")
        logger.debug("PayFiP creerPaiementSecurise: refdet=%s idop=%s", refdet, idop)
        return idop

    async def payment_detail(self, idop: str) -> PaymentDetail:
        """recupererDetailPaiementSecurise: the payment's status, the only one to trust.

        P5 (not known yet) and P1 (unknown or purged idOp) arrive as PayfipError.
        """
        _require(_is_str_matching(idop, _IDOP_RE), "idop must be 1 to 64 letters, digits or dashes")
        logger.debug("PayFiP recupererDetailPaiementSecurise: idop=%s", idop)
        result = await self._call("recupererDetailPaiementSecurise", [("idOp", idop)])
        values = _fields(result)
        answered_idop = values.get("idOp") or idop
        if answered_idop != idop:
            # Never attach someone else's payment to this idop.
            raise PayfipUnavailable(
                "PayFiP recupererDetailPaiementSecurise: answer is about another idOp"
            )
        detail = PaymentDetail(
            idop=answered_idop,
            resultrans=values.get("resultrans", ""),
            numcli=values.get("numcli", ""),
            refdet=values.get("refdet", ""),
            montant=values.get("montant", ""),
            saisie=values.get("saisie", ""),
            numauto=values.get("numauto", ""),
            dattrans=values.get("dattrans", ""),
            heurtrans=values.get("heurtrans", ""),
            exer=values.get("exer", ""),
            mel=values.get("mel", ""),
            objet=values.get("objet", ""),
            raw=values,
        )
        logger.debug(
            "PayFiP recupererDetailPaiementSecurise: idop=%s refdet=%s resultrans=%s",
            idop,
            detail.refdet,
            detail.resultrans,
        )
        return detail

    async def client_detail(self, numcli: str) -> ClientDetail:
        """recupererDetailClient: checks a régie's numcli is known to PayFiP (configuration aid)."""
        _require(_is_str_matching(numcli, _NUMCLI_RE), "numcli must be 6 digits")
        result = await self._call("recupererDetailClient", [("numCli", numcli)])
        values = _fields(result)
        return ClientDetail(
            numcli=values.get("numcli", ""),
            libelle_n1=values.get("libelleN1", ""),
            libelle_n2=values.get("libelleN2", ""),
            libelle_n3=values.get("libelleN3", ""),
        )

    async def _call(self, operation: str, fields: Sequence[tuple[str, str]]) -> Element:
        envelope = _build_envelope(operation, fields)
        content, status_code = await self._post(operation, envelope)
        return _read_response(content, status_code, operation)

    async def _post(self, operation: str, envelope: bytes) -> tuple[bytes, int]:
        """POST the envelope; return the body (bounded in size and time) and the HTTP status."""
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '""',
            "Accept": "text/xml",
        }
        transport = _BorrowedTransport(self._transport) if self._transport is not None else None
        try:
            # httpx's timeout bounds each phase (connect, write, each read); this one bounds the
            # whole exchange, so a server trickling bytes cannot hold the payer indefinitely.
            async with asyncio.timeout(self.timeout):
                async with (
                    httpx.AsyncClient(timeout=self.timeout, transport=transport) as client,
                    client.stream("POST", self.url, content=envelope, headers=headers) as response,
                ):
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_RESPONSE_BYTES:
                            raise PayfipUnavailable(f"PayFiP {operation}: answer too large")
                        chunks.append(chunk)
                    return b"".join(chunks), response.status_code
        except TimeoutError as exc:
            logger.debug("PayFiP %s: timed out", operation)
            raise PayfipUnavailable(f"PayFiP {operation}: timed out") from exc
        except httpx.HTTPError as exc:
            logger.debug("PayFiP %s: %s", operation, type(exc).__name__)
            raise PayfipUnavailable(f"PayFiP {operation}: {type(exc).__name__}") from exc
