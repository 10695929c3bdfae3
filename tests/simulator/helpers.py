"""Build SOAP requests by hand and read the simulator's answers, without any SOAP library."""

from __future__ import annotations

from html.parser import HTMLParser
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import httpx
from defusedxml.ElementTree import fromstring

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NS = (
    "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/"
    "contrat_paiement_securise/PaiementSecuriseService"
)
SOAP_PATH = "/tpa/services/securite"

VALID_REQUEST = {
    "exer": "2019",
    "mel": "john.doe@example.com",
    "montant": "1000",
    "numcli": "090909",
    "objet": "coucou",
    "refdet": "ABCDEFGH",
    "saisie": "T",
    "urlnotif": "https://notif.payfip.example.com/",
    "urlredirect": "https://redirect.payfip.example.com/",
}


def envelope(operation: str, fields: dict[str, str]) -> bytes:
    """A document/literal request as a JAX-WS client sends it: unqualified arg0 and fields."""
    children = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:tns="{SERVICE_NS}">'
        "<soapenv:Header/><soapenv:Body>"
        f"<tns:{operation}><arg0>{children}</arg0></tns:{operation}>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


async def soap(client: httpx.AsyncClient, operation: str, fields: dict[str, str]) -> httpx.Response:
    return await post_raw(client, envelope(operation, fields))


async def post_raw(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(
        SOAP_PATH,
        content=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
    )


def body_payload(response: httpx.Response) -> Element:
    root = fromstring(response.content)
    assert root.tag == f"{{{SOAP_ENV}}}Envelope"
    body = root.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    return body[0]


def result(response: httpx.Response, operation: str) -> dict[str, str]:
    """The `return` fields of a successful answer, after checking its namespaces."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    payload = body_payload(response)
    assert payload.tag == f"{{{SERVICE_NS}}}{operation}Response"
    (returned,) = list(payload)
    assert returned.tag == "return"
    return {child.tag: child.text or "" for child in returned}


def fault(response: httpx.Response) -> dict[str, str]:
    """faultcode, faultstring, the detail element's class name and its children."""
    assert response.status_code == 500, response.text
    payload = body_payload(response)
    assert payload.tag == f"{{{SOAP_ENV}}}Fault"
    detail = payload.find("detail")
    assert detail is not None
    (error,) = list(detail)
    namespace, _, kind = error.tag[1:].partition("}")
    assert namespace == SERVICE_NS
    fields = {child.tag: child.text or "" for child in error}
    assert list(fields) == ["code", "descriptif", "libelle", "message", "severite"]
    return {
        "faultcode": payload.findtext("faultcode") or "",
        "faultstring": payload.findtext("faultstring") or "",
        "kind": kind,
        **fields,
    }


async def create_idop(client: httpx.AsyncClient, **overrides: str) -> str:
    fields = {**VALID_REQUEST, **overrides}
    return result(await soap(client, "creerPaiementSecurise", fields), "creerPaiementSecurise")[
        "idOp"
    ]


class FormReader(HTMLParser):
    """The forms of a page: action, method and fields (hidden, text, and button values)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": values.get("action", ""),
                    "method": values.get("method", ""),
                    "fields": {},
                }
            )
        elif tag == "input" and self.forms and "name" in values:
            fields = self.forms[-1]["fields"]
            assert isinstance(fields, dict)
            fields[values["name"]] = values.get("value", "")


def forms(html: str) -> list[dict[str, object]]:
    reader = FormReader()
    reader.feed(html)
    return reader.forms
