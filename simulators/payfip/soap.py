"""SOAP 1.1 wire format of the PayFiP web service: parse requests, render answers and faults.

The shapes follow the DGFiP WSDL (document/literal, wrapper elements in the service
namespace, unqualified `arg0` and `return`) and the faults recorded from the real server.
Requests are parsed with defusedxml, which refuses DTDs and entity tricks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from simulators.payfip.state import OPERATION_NAMES

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
SERVICE_NS = (
    "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/"
    "contrat_paiement_securise/PaiementSecuriseService"
)
EXCEPTION_PACKAGE = "fr.gouv.finances.cp.tpa.webservice.exceptions"
CONTENT_TYPE = "text/xml; charset=utf-8"

LIBELLES = {
    # Recorded from the real server (payfip.md §7).
    "R3": "Le format du paramètre REFDET n'est pas conforme",
    "A2": "Adresse mél incorrecte.",
    "P1": "IdOp incorrect.",
    "P5": "Résultat de la transaction non connu.",
    # Codes known from third parties; the wording is the simulator's.
    "A1": "Adresse mél absente.",
    "T1": "Le format du paramètre NUMCLI n'est pas conforme",
    "T2": "Le numéro de client n'est pas référencé dans PayFiP.",
    "T4": "Le client n'est pas autorisé à utiliser l'accès sécurisé.",
    "S1": "Le format du paramètre SAISIE n'est pas conforme",
    "M1": "Le format du paramètre MONTANT n'est pas conforme",
    "M3": "Le montant est inférieur au montant minimum autorisé.",
    "M5": "Le montant est supérieur au montant maximum autorisé.",
    "N1": "Le format du paramètre URLNOTIF n'est pas conforme",
    "D1": "Le format du paramètre URLREDIRECT n'est pas conforme",
    "P3": "IdOp déjà utilisé.",
    "P4": "IdOp expiré.",
}

TECHNICAL_DEFAULTS = {
    "TechDysfonctionnementErreur": ("TD1", "Dysfonctionnement technique du service."),
    "TechIndisponibiliteErreur": ("TI1", "Service momentanément indisponible."),
    "TechProtocolaireErreur": ("TP1", "Requête non conforme au protocole."),
}


class SoapFault(Exception):
    """A fault the service answers; `kind` is the exception class named in the fault."""

    def __init__(
        self,
        code: str,
        libelle: str | None = None,
        *,
        kind: str = "FonctionnelleErreur",
        faultcode: str = "S:Server",
    ) -> None:
        if kind in TECHNICAL_DEFAULTS:
            default_code, default_libelle = TECHNICAL_DEFAULTS[kind]
            code = code or default_code
            libelle = libelle or default_libelle
        self.code = code
        self.libelle = libelle if libelle is not None else LIBELLES.get(code, code)
        self.kind = kind
        self.faultcode = faultcode
        super().__init__(f"{kind} {code}: {self.libelle}")


def protocol_fault(libelle: str) -> SoapFault:
    """The client sent something that is not a request of this service."""
    return SoapFault("", libelle, kind="TechProtocolaireErreur", faultcode="S:Client")


@dataclass(frozen=True)
class SoapRequest:
    operation: str
    fields: dict[str, str]
    """The unqualified children of `arg0`, by exact (case-sensitive) name."""


def parse_request(body: bytes) -> SoapRequest:
    """Read a SOAP 1.1 request; anything else raises a protocol SoapFault."""
    try:
        root = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise protocol_fault(f"XML refusé : {type(exc).__name__}") from exc
    except (ParseError, ValueError) as exc:
        raise protocol_fault("Requête XML mal formée.") from exc
    if root.tag == f"{{{SOAP12_ENV_NS}}}Envelope":
        raise SoapFault(
            "",
            "SOAP 1.2 non supporté.",
            kind="TechProtocolaireErreur",
            faultcode="S:VersionMismatch",
        )
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise protocol_fault("Enveloppe SOAP 1.1 attendue.")
    soap_body = root.find(f"{{{SOAP_ENV_NS}}}Body")
    payload = _first_element(soap_body) if soap_body is not None else None
    if payload is None:
        raise protocol_fault("Corps SOAP vide.")
    namespace, name = _split_tag(payload.tag)
    if namespace != SERVICE_NS or name not in OPERATION_NAMES:
        raise protocol_fault(f"Opération inconnue : {name}")
    arg0 = payload.find("arg0")
    fields: dict[str, str] = {}
    if arg0 is not None:
        for child in arg0:
            # Qualified or misspelt children are ignored, as a JAX-WS server does.
            if isinstance(child.tag, str) and not child.tag.startswith("{"):
                fields[child.tag] = child.text or ""
    return SoapRequest(name, fields)


def _split_tag(tag: str) -> tuple[str, str]:
    """`{namespace}name` → (namespace, name); ("", name) for an unqualified tag."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _first_element(parent: Element) -> Element | None:
    for child in parent:
        if isinstance(child.tag, str):
            return child
    return None


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<S:Envelope xmlns:S="{SOAP_ENV_NS}"><S:Body>{body}</S:Body></S:Envelope>'
    ).encode()


def _elements(fields: Mapping[str, str]) -> str:
    return "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())


def render_response(operation: str, result: Mapping[str, str]) -> bytes:
    """`<ns2:{operation}Response><return>…</return>`: the answer zeep expects from the WSDL."""
    return _envelope(
        f'<ns2:{operation}Response xmlns:ns2="{SERVICE_NS}">'
        f"<return>{_elements(result)}</return>"
        f"</ns2:{operation}Response>"
    )


def render_fault(fault: SoapFault) -> bytes:
    """A SOAP 1.1 Fault whose detail is the WSDL's `FonctionnelleErreur` (or Tech*) element."""
    detail = (
        f"<code>{escape(fault.code)}</code>"
        "<descriptif/>"
        f"<libelle>{escape(fault.libelle)}</libelle>"
        f"<message>{escape(fault.libelle)}</message>"
        "<severite>2</severite>"
    )
    return _envelope(
        "<S:Fault>"
        f"<faultcode>{fault.faultcode}</faultcode>"
        f"<faultstring>{EXCEPTION_PACKAGE}.{fault.kind}</faultstring>"
        f'<detail><ns2:{fault.kind} xmlns:ns2="{SERVICE_NS}">{detail}</ns2:{fault.kind}></detail>'
        "</S:Fault>"
    )
