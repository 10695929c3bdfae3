"""The PayFiP web-service client against the recorded exchanges (payfip.md §7).

Responses are served by httpx.MockTransport from tests/unit/data/payfip/ (see its README); every
request the client sends is parsed back, so these tests check what would go on the wire, not
which mocks were called.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import defusedxml
import defusedxml.ElementTree as SafeElementTree
import httpx
import pytest

from core.payments.text import normalize_objet
from plugins.payfip.client import (
    DEFAULT_TIMEOUT_SECONDS,
    ClientDetail,
    PayfipClient,
    PayfipError,
    PayfipUnavailable,
    PaymentDetail,
)

DATA = Path(__file__).parent / "data" / "payfip"
URL = "https://www.payfip.gouv.fr/tpa/services/securite"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PAYFIP_NS = (
    "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/"
    "contrat_paiement_securise/PaiementSecuriseService"
)
XML = "text/xml; charset=utf-8"
IDOP = "cc0cb210-1cd4-11ea-8cca-0213ad91a103"
NUMCLI = "090909"
MEL = "john.doe@example.com"
NOTIF_URL = "https://notif.payfip.example.com/"
REDIRECT_URL = "https://redirect.payfip.example.com/"
PARIS = ZoneInfo("Europe/Paris")

# The creerPaiementSecurise request of payfip.md §7.
CREATE: dict[str, Any] = {
    "numcli": NUMCLI,
    "refdet": "ABCDEFGH",
    "amount_cents": 1000,
    "mel": MEL,
    "saisie": "T",
    "urlnotif": NOTIF_URL,
    "urlredirect": REDIRECT_URL,
    "exer": "2019",
    "objet": "coucou",
}
CREATE_FIELDS = [
    "exer",
    "mel",
    "montant",
    "numcli",
    "objet",
    "refdet",
    "saisie",
    "urlnotif",
    "urlredirect",
]


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


class FakePayfip:
    """Answers every request with one canned body and keeps the requests for inspection."""

    def __init__(
        self, body: bytes | str = b"", *, status: int = 200, content_type: str = XML
    ) -> None:
        self.body = body.encode() if isinstance(body, str) else body
        self.status = status
        self.content_type = content_type
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(
            self.status, content=self.body, headers={"Content-Type": self.content_type}
        )

    def client(self, **kwargs: Any) -> PayfipClient:
        return PayfipClient(URL, transport=httpx.MockTransport(self), **kwargs)

    def only_request(self) -> httpx.Request:
        assert len(self.requests) == 1
        return self.requests[0]


def arg0(request: httpx.Request, operation: str) -> list[tuple[str, str]]:
    """The (tag, text) pairs of the request's arg0, after checking the envelope around them."""
    root = SafeElementTree.fromstring(request.content, forbid_dtd=True)
    assert root.tag == f"{{{SOAP_ENV}}}Envelope"
    assert [child.tag for child in root] == [f"{{{SOAP_ENV}}}Body"]
    body = root[0]
    assert [child.tag for child in body] == [f"{{{PAYFIP_NS}}}{operation}"]
    wrapper = body[0]
    # Unqualified: no namespace at all on arg0 and its fields.
    assert [child.tag for child in wrapper] == ["arg0"]
    return [(field.tag, field.text or "") for field in wrapper[0]]


def assert_soap_post(request: httpx.Request) -> None:
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["SOAPAction"] == '""'
    assert request.headers["Content-Type"] == "text/xml; charset=utf-8"


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


async def test_create_payment_sends_the_recorded_request_and_returns_the_idop() -> None:
    service = FakePayfip(fixture("creer_paiement_ok.xml"))

    idop = await service.client().create_payment(**CREATE)

    assert idop == IDOP
    request = service.only_request()
    assert_soap_post(request)
    assert arg0(request, "creerPaiementSecurise") == [
        ("exer", "2019"),
        ("mel", MEL),
        ("montant", "1000"),
        ("numcli", NUMCLI),
        ("objet", "coucou"),
        ("refdet", "ABCDEFGH"),
        ("saisie", "T"),
        ("urlnotif", NOTIF_URL),
        ("urlredirect", REDIRECT_URL),
    ]


async def test_create_payment_omits_an_empty_objet_and_accepts_an_int_exer() -> None:
    service = FakePayfip(fixture("creer_paiement_ok.xml"))

    await service.client().create_payment(**{**CREATE, "objet": "", "exer": 2019})

    fields = dict(arg0(service.only_request(), "creerPaiementSecurise"))
    assert list(fields) == [name for name in CREATE_FIELDS if name != "objet"]
    assert fields["exer"] == "2019"
    assert b"objet" not in service.only_request().content


async def test_create_payment_escapes_markup_in_values() -> None:
    service = FakePayfip(fixture("creer_paiement_ok.xml"))
    mel = "a<b&c@example.com"
    objet = "x</objet><montant>1</montant> & <y"

    await service.client().create_payment(**{**CREATE, "mel": mel, "objet": objet})

    content = service.only_request().content
    assert b"a&lt;b&amp;c@example.com" in content
    assert b"x&lt;/objet&gt;&lt;montant&gt;1&lt;/montant&gt; &amp; &lt;y" in content
    fields = arg0(service.only_request(), "creerPaiementSecurise")
    assert [name for name, _ in fields] == CREATE_FIELDS
    assert dict(fields)["mel"] == mel
    assert dict(fields)["objet"] == objet
    assert dict(fields)["montant"] == "1000"


async def test_create_payment_sends_non_ascii_as_utf8() -> None:
    service = FakePayfip(fixture("creer_paiement_ok.xml"))

    await service.client().create_payment(**{**CREATE, "mel": "élodie@example.com"})

    assert "élodie@example.com".encode() in service.only_request().content
    assert dict(arg0(service.only_request(), "creerPaiementSecurise"))["mel"] == (
        "élodie@example.com"
    )


async def test_payment_detail_asks_with_idop_in_its_exact_case() -> None:
    service = FakePayfip(fixture("detail_paid_card.xml"))

    await service.client().payment_detail(IDOP)

    request = service.only_request()
    assert_soap_post(request)
    assert arg0(request, "recupererDetailPaiementSecurise") == [("idOp", IDOP)]


async def test_client_detail_asks_with_numcli_spelled_numCli() -> None:
    service = FakePayfip(fixture("client_detail.xml"))

    detail = await service.client().client_detail(NUMCLI)

    request = service.only_request()
    assert_soap_post(request)
    assert arg0(request, "recupererDetailClient") == [("numCli", NUMCLI)]
    assert detail == ClientDetail(
        numcli="090909",
        libelle_n1="RR COMPOSTEURS INDIVIDUELS",
        libelle_n2="POUETPOUET",
        libelle_n3="COLLECTE VALORISATION DECHETS",
    )


async def test_the_url_given_is_the_one_called() -> None:
    service = FakePayfip(fixture("detail_paid_card.xml"))
    simulator = "http://127.0.0.1:8089/tpa/services/securite"

    await PayfipClient(simulator, transport=httpx.MockTransport(service)).payment_detail(IDOP)

    assert str(service.only_request().url) == simulator


# ---------------------------------------------------------------------------------------------
# Payment details
# ---------------------------------------------------------------------------------------------

PAID_CARD = {
    "dattrans": "12122019",
    "exer": "20",
    "heurtrans": "1311",
    "idOp": IDOP,
    "mel": MEL,
    "montant": "1000",
    "numauto": "112233445566-tip",
    "numcli": "090909",
    "refdet": "201912261758460053903194",
    "resultrans": "P",
    "saisie": "T",
}
PAID_DEBIT = {**PAID_CARD, "objet": "coucou", "refdet": "EFEFAEFG", "resultrans": "V"}
REFUSED = {name: value for name, value in PAID_CARD.items() if name != "numauto"} | {
    "resultrans": "R"
}
ABANDONED = {**REFUSED, "resultrans": "A"}


@pytest.mark.parametrize(
    ("name", "received"),
    [
        ("detail_paid_card.xml", PAID_CARD),
        ("detail_paid_debit.xml", PAID_DEBIT),
        ("detail_refused.xml", REFUSED),
        ("detail_abandoned.xml", ABANDONED),
    ],
)
async def test_payment_detail_reads_every_field(name: str, received: dict[str, str]) -> None:
    detail = await FakePayfip(fixture(name)).client().payment_detail(IDOP)

    assert detail == PaymentDetail(
        idop=IDOP,
        resultrans=received["resultrans"],
        numcli=received["numcli"],
        refdet=received["refdet"],
        montant=received["montant"],
        saisie=received["saisie"],
        numauto=received.get("numauto", ""),
        dattrans=received["dattrans"],
        heurtrans=received["heurtrans"],
        exer=received["exer"],
        mel=received["mel"],
        objet=received.get("objet", ""),
        raw=received,
    )
    assert detail.idop == IDOP
    assert detail.resultrans == received["resultrans"]
    assert detail.numcli == "090909"
    assert detail.numauto == received.get("numauto", "")
    assert dict(detail.raw) == received
    assert detail.amount_cents == 1000
    assert detail.transaction_at == datetime(2019, 12, 12, 13, 11, tzinfo=PARIS)


async def test_transaction_time_is_paris_time() -> None:
    detail = await FakePayfip(fixture("detail_paid_card.xml")).client().payment_detail(IDOP)

    moment = detail.transaction_at
    assert moment is not None
    assert moment.tzinfo is not None
    assert moment.utcoffset() == timedelta(hours=1)
    assert moment.astimezone(UTC) == datetime(2019, 12, 12, 12, 11, tzinfo=UTC)


async def test_payment_detail_keeps_unknown_results_and_fields() -> None:
    body = fixture("detail_paid_card.xml").replace(
        b"<resultrans>P</resultrans>", b"<resultrans>W</resultrans><wero>oui</wero>"
    )

    detail = await FakePayfip(body).client().payment_detail(IDOP)

    assert detail.resultrans == "W"
    assert detail.raw["wero"] == "oui"


async def test_payment_detail_refuses_an_answer_about_another_idop() -> None:
    body = fixture("detail_paid_card.xml").replace(
        IDOP.encode(), b"00000000-0000-0000-0000-000000000000"
    )

    with pytest.raises(PayfipUnavailable):
        await FakePayfip(body).client().payment_detail(IDOP)


def make_detail(**changes: str) -> PaymentDetail:
    values: dict[str, Any] = {
        "idop": IDOP,
        "resultrans": "P",
        "numcli": NUMCLI,
        "refdet": "ABCDEFGH",
        "montant": "1000",
        "saisie": "T",
        "dattrans": "12122019",
        "heurtrans": "1311",
    }
    return PaymentDetail(**(values | changes))


@pytest.mark.parametrize(
    ("montant", "cents"),
    [
        ("1000", 1000),
        ("0000100", 100),
        ("9990000001", 9990000001),
        ("10.00", None),
        ("", None),
        (" 1000", None),
        ("-100", None),
        ("١٠٠٠", None),  # Arabic-Indic digits: int() would take them
        ("1e3", None),
    ],
)
def test_amount_cents(montant: str, cents: int | None) -> None:
    assert make_detail(montant=montant).amount_cents == cents


@pytest.mark.parametrize(
    ("dattrans", "heurtrans"),
    [
        ("", ""),
        ("12122019", ""),
        ("", "1311"),
        ("32122019", "1311"),
        ("12132019", "1311"),
        ("1212019", "1311"),
        ("12122019", "2460"),
        ("12122019", "131"),
        ("2019-12-12", "1311"),
        ("1212 019", "1311"),
    ],
)
def test_transaction_at_is_none_when_absent_or_malformed(dattrans: str, heurtrans: str) -> None:
    assert make_detail(dattrans=dattrans, heurtrans=heurtrans).transaction_at is None


def test_transaction_at_follows_summer_time() -> None:
    moment = make_detail(dattrans="01072024", heurtrans="0905").transaction_at
    assert moment == datetime(2024, 7, 1, 9, 5, tzinfo=PARIS)
    assert moment is not None and moment.utcoffset() == timedelta(hours=2)


def test_payment_detail_is_immutable_and_hashable() -> None:
    detail = PaymentDetail(
        idop=IDOP,
        resultrans="P",
        numcli=NUMCLI,
        refdet="ABCDEFGH",
        montant="1000",
        saisie="T",
        raw={"resultrans": "P"},
    )
    with pytest.raises(FrozenInstanceError):
        detail.resultrans = "R"  # type: ignore[misc]
    with pytest.raises(TypeError):
        detail.raw["resultrans"] = "R"  # type: ignore[index]
    assert hash(detail) == hash(detail)


# ---------------------------------------------------------------------------------------------
# SOAP faults
# ---------------------------------------------------------------------------------------------


async def create_with_a2_values(client: PayfipClient) -> str:
    # The exact A2 recording: amount 99 900 000.01 €, mel without @ (left to the server).
    return await client.create_payment(
        **{**CREATE, "refdet": "ABCDEF", "amount_cents": 9990000001, "mel": "john.doeexample.com"}
    )


async def create_ok(client: PayfipClient) -> str:
    return await client.create_payment(**CREATE)


async def detail(client: PayfipClient) -> PaymentDetail:
    return await client.payment_detail(IDOP)


@pytest.mark.parametrize(
    ("name", "call", "code", "message", "kind", "severity"),
    [
        ("fault_p1.xml", detail, "P1", "IdOp incorrect.", "FonctionnelleErreur", 2),
        (
            "fault_p5.xml",
            detail,
            "P5",
            "Résultat de la transaction non connu.",
            "FonctionnelleErreur",
            2,
        ),
        (
            "fault_r3.xml",
            create_ok,
            "R3",
            "Le format du paramètre REFDET n'est pas conforme",
            "FonctionnelleErreur",
            2,
        ),
        (
            "fault_a2.xml",
            create_with_a2_values,
            "A2",
            "Adresse mél incorrecte.",
            "FonctionnelleErreur",
            2,
        ),
        (
            "fault_tech_indisponibilite.xml",
            detail,
            "I1",
            "Service momentanément indisponible.",
            "TechIndisponibiliteErreur",
            3,
        ),
        (
            "fault_tech_no_detail.xml",
            create_ok,
            "",
            "fr.gouv.finances.cp.tpa.webservice.exceptions.TechDysfonctionnementErreur",
            "TechDysfonctionnementErreur",
            None,
        ),
        (
            "fault_client_dispatch.xml",
            detail,
            "",
            f"Cannot find dispatch method for {{{PAYFIP_NS}}}recupererDetailPaiement",
            "",
            None,
        ),
    ],
)
async def test_soap_faults_become_payfip_errors(
    name: str, call: Any, code: str, message: str, kind: str, severity: int | None
) -> None:
    service = FakePayfip(fixture(name), status=500)

    with pytest.raises(PayfipError) as caught:
        await call(service.client())

    error = caught.value
    assert (error.code, error.message, error.kind, error.severity) == (
        code,
        message,
        kind,
        severity,
    )
    assert error.technical is (kind != "FonctionnelleErreur")
    assert len(service.requests) == 1


@pytest.mark.parametrize("name", ["fault_p1.xml", "fault_p5.xml", "fault_r3.xml", "fault_a2.xml"])
async def test_functional_faults_are_not_technical(name: str) -> None:
    with pytest.raises(PayfipError) as caught:
        await FakePayfip(fixture(name), status=500).client().payment_detail(IDOP)
    assert caught.value.kind == "FonctionnelleErreur"
    assert caught.value.technical is False


@pytest.mark.parametrize(
    "name",
    ["fault_tech_indisponibilite.xml", "fault_tech_no_detail.xml", "fault_client_dispatch.xml"],
)
async def test_technical_and_unknown_faults_are_technical(name: str) -> None:
    with pytest.raises(PayfipError) as caught:
        await FakePayfip(fixture(name), status=500).client().payment_detail(IDOP)
    assert caught.value.technical is True


@pytest.mark.parametrize("status", [200, 500, 503])
async def test_a_fault_is_a_fault_whatever_the_http_status(status: int) -> None:
    with pytest.raises(PayfipError) as caught:
        await FakePayfip(fixture("fault_p5.xml"), status=status).client().payment_detail(IDOP)
    assert caught.value.code == "P5"


async def test_fault_kind_falls_back_on_the_faultstring_class_name() -> None:
    body = fixture("fault_p1.xml").replace(b"ns2:FonctionnelleErreur", b"ns2:Autre")

    with pytest.raises(PayfipError) as caught:
        await FakePayfip(body, status=500).client().payment_detail(IDOP)

    assert (caught.value.kind, caught.value.code) == ("FonctionnelleErreur", "P1")
    assert caught.value.technical is False


async def test_fault_message_prefers_libelle_over_message() -> None:
    body = fixture("fault_p1.xml").replace(
        b"<severite>", b"<message>java.lang.Exception: P1</message>\n          <severite>"
    )

    with pytest.raises(PayfipError) as caught:
        await FakePayfip(body, status=500).client().payment_detail(IDOP)

    assert caught.value.message == "IdOp incorrect."


def test_payfip_error_str_names_kind_code_and_message() -> None:
    error = PayfipError("P5", "Résultat inconnu.", severity=2, kind="FonctionnelleErreur")
    assert str(error) == "FonctionnelleErreur P5: Résultat inconnu."
    assert PayfipError().technical is True


# ---------------------------------------------------------------------------------------------
# No usable answer
# ---------------------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>
"""


def with_doctype(body: bytes, doctype: str) -> bytes:
    """A valid answer with a DOCTYPE inserted: only a DTD-refusing parser rejects it."""
    declaration, rest = body.split(b"\n", 1)
    return declaration + b"\n" + doctype.encode() + b"\n" + rest


# An internal entity that an ordinary parser would expand into a perfectly valid idOp.
ENTITY_IDOP = with_doctype(
    fixture("creer_paiement_ok.xml").replace(IDOP.encode(), b"&idop;"),
    f'<!DOCTYPE S:Envelope [<!ENTITY idop "{IDOP}">]>',
)
EXTERNAL_ENTITY = with_doctype(
    fixture("creer_paiement_ok.xml").replace(IDOP.encode(), b"&xxe;"),
    '<!DOCTYPE S:Envelope [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>',
)
PLAIN_DOCTYPE = with_doctype(fixture("creer_paiement_ok.xml"), "<!DOCTYPE S:Envelope>")


@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, ENTITY_IDOP, EXTERNAL_ENTITY, PLAIN_DOCTYPE],
    ids=["billion-laughs", "internal-entity", "external-entity", "doctype"],
)
async def test_dtds_and_entities_are_refused(body: bytes) -> None:
    with pytest.raises(PayfipUnavailable) as caught:
        await FakePayfip(body).client().create_payment(**CREATE)
    assert isinstance(caught.value.__cause__, defusedxml.DefusedXmlException)


def raising(error: type[httpx.TransportError]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError],
)
async def test_transport_failures_make_the_service_unavailable(
    error: type[httpx.TransportError],
) -> None:
    client = PayfipClient(URL, transport=raising(error))
    with pytest.raises(PayfipUnavailable) as caught:
        await client.payment_detail(IDOP)
    assert isinstance(caught.value.__cause__, error)
    with pytest.raises(PayfipUnavailable):
        await client.create_payment(**CREATE)


async def test_a_slow_answer_is_cut_at_the_timeout() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, content=fixture("detail_paid_card.xml"))

    client = PayfipClient(URL, timeout=0.05, transport=httpx.MockTransport(slow))
    started = asyncio.get_running_loop().time()
    with pytest.raises(PayfipUnavailable):
        await client.payment_detail(IDOP)
    assert asyncio.get_running_loop().time() - started < 2


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (502, fixture("bad_gateway.html"), "text/html"),
        (200, fixture("bad_gateway.html"), "text/html"),
        (200, b"\x00\xffnot xml at all", "application/octet-stream"),
        (200, b"", XML),
        (200, b"<S:Envelope", XML),
        (200, b"<?xml version='1.0'?><html><body>maintenance</body></html>", XML),
        # A SOAP 1.2 envelope is not what this SOAP 1.1 service speaks.
        (
            200,
            fixture("detail_paid_card.xml").replace(
                SOAP_ENV.encode(), b"http://www.w3.org/2003/05/soap-envelope"
            ),
            XML,
        ),
        # A success envelope under an error status: the outcome is not trustworthy.
        (500, fixture("detail_paid_card.xml"), XML),
        (302, fixture("detail_paid_card.xml"), XML),
        # An envelope without the operation's result.
        (
            200,
            f'<S:Envelope xmlns:S="{SOAP_ENV}"><S:Body/></S:Envelope>'.encode(),
            XML,
        ),
        (200, fixture("creer_paiement_ok.xml"), XML),  # another operation's answer
        (200, fixture("detail_paid_card.xml").replace(b"return>", b"retour>"), XML),
    ],
)
async def test_answers_that_are_not_soap_make_the_service_unavailable(
    status: int, body: bytes, content_type: str
) -> None:
    service = FakePayfip(body, status=status, content_type=content_type)
    with pytest.raises(PayfipUnavailable):
        await service.client().payment_detail(IDOP)


@pytest.mark.parametrize(
    "body",
    [
        fixture("creer_paiement_ok.xml").replace(f"<idOp>{IDOP}</idOp>".encode(), b""),
        fixture("creer_paiement_ok.xml").replace(IDOP.encode(), b""),
        fixture("creer_paiement_ok.xml").replace(IDOP.encode(), b"bad idop"),
    ],
)
async def test_a_creation_without_usable_idop_makes_the_service_unavailable(body: bytes) -> None:
    with pytest.raises(PayfipUnavailable):
        await FakePayfip(body).client().create_payment(**CREATE)


async def test_an_oversized_answer_is_not_buffered() -> None:
    body = fixture("detail_paid_card.xml").replace(
        b"<saisie>T</saisie>", b"<saisie>T</saisie><pad>" + b"x" * 2_000_000 + b"</pad>"
    )
    with pytest.raises(PayfipUnavailable):
        await FakePayfip(body).client().payment_detail(IDOP)


async def test_a_borrowed_transport_is_not_closed() -> None:
    closed: list[bool] = []

    class Transport(httpx.MockTransport):
        async def aclose(self) -> None:
            closed.append(True)

    service = FakePayfip(fixture("detail_paid_card.xml"))
    client = PayfipClient(URL, transport=Transport(service))
    await client.payment_detail(IDOP)
    await client.payment_detail(IDOP)

    assert len(service.requests) == 2
    assert closed == []


# ---------------------------------------------------------------------------------------------
# Inputs refused before anything is sent
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"numcli": "90909"},
        {"numcli": "0909091"},
        {"numcli": 90909},
        {"numcli": "09090a"},
        {"numcli": "٠٩٠٩٠٩"},
        {"numcli": "090909\n"},
        {"refdet": "ABCD"},
        {"refdet": "A" * 31},
        {"refdet": "ABC-DEF"},
        {"refdet": "ABCDEF\n"},
        {"refdet": "ABCDÉF"},
        {"amount_cents": 0},
        {"amount_cents": -100},
        {"amount_cents": 10.0},
        {"amount_cents": "1000"},
        {"amount_cents": True},
        {"saisie": "A"},
        {"saisie": "M"},
        {"saisie": "t"},
        {"saisie": ""},
        {"urlnotif": "ftp://notif.example.com/"},
        {"urlnotif": "notif.example.com"},
        {"urlnotif": ""},
        {"urlredirect": "javascript:alert(1)"},
        {"urlredirect": "https://redirect.example.com/a b"},
        {"exer": "20"},
        {"exer": 20},
        {"exer": "20199"},
        {"exer": None},
        {"mel": ""},
        {"mel": "john\x00@example.com"},
        {"objet": "bell\x07"},
        {"objet": None},
    ],
    ids=repr,
)
async def test_create_payment_refuses_bad_inputs(change: dict[str, Any]) -> None:
    service = FakePayfip(fixture("creer_paiement_ok.xml"))
    with pytest.raises(ValueError, match=r"\w"):
        await service.client().create_payment(**{**CREATE, **change})
    assert service.requests == []


@pytest.mark.parametrize("idop", ["", "a b", "<x/>", "x" * 65, IDOP + "\n", None])
async def test_payment_detail_refuses_bad_idops(idop: Any) -> None:
    service = FakePayfip(fixture("detail_paid_card.xml"))
    with pytest.raises(ValueError, match="idop"):
        await service.client().payment_detail(idop)
    assert service.requests == []


@pytest.mark.parametrize("numcli", ["", "9090", "09090x", 90909])
async def test_client_detail_refuses_bad_numcli(numcli: Any) -> None:
    service = FakePayfip(fixture("client_detail.xml"))
    with pytest.raises(ValueError, match="numcli"):
        await service.client().client_detail(numcli)
    assert service.requests == []


@pytest.mark.parametrize(
    ("url", "timeout"),
    [("ftp://payfip.example.com/", 1.0), ("www.payfip.gouv.fr", 1.0), (URL, 0), (URL, -1)],
)
def test_client_refuses_bad_settings(url: str, timeout: float) -> None:
    with pytest.raises(ValueError):
        PayfipClient(url, timeout=timeout)


def test_default_timeout() -> None:
    assert DEFAULT_TIMEOUT_SECONDS == 15.0
    assert PayfipClient(URL).timeout == 15.0


# ---------------------------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------------------------


async def test_debug_log_names_refdet_and_idop_but_no_personal_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="plugins.payfip.client")
    mel = "marie.curie@example.org"
    await (
        FakePayfip(fixture("creer_paiement_ok.xml"))
        .client()
        .create_payment(**{**CREATE, "mel": mel, "objet": "Cantine Marie Curie"})
    )
    await FakePayfip(fixture("detail_paid_card.xml")).client().payment_detail(IDOP)

    assert "ABCDEFGH" in caplog.text
    assert IDOP in caplog.text
    for private in (mel, "Curie", MEL, "112233445566"):
        assert private not in caplog.text


# ---------------------------------------------------------------------------------------------
# normalize_objet
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "18/09/2020  Établissement attestation hors-sol n#1234",
            "18092020 Etablissement attestation hors sol n1234",
        ),
        ("", ""),
        ("coucou", "coucou"),
        ("L’école d'été", "L ecole d ete"),
        ("Cœur Lætitia Straße", "Coeur Laetitia Strasse"),
        ("Cantine – septembre\tà\ndécembre", "Cantine septembre a decembre"),
        ("Facture n° 12,50 €", "Facture n 1250"),
        ("  ###  ", ""),
        ("<script>&amp;</script>", "scriptampscript"),
        ("ﬁnance ²", "finance 2"),
    ],
)
def test_normalize_objet(text: str, expected: str) -> None:
    assert normalize_objet(text) == expected


def test_normalize_objet_cuts_to_100_characters_without_trailing_space() -> None:
    result = normalize_objet("a" * 99 + " " + "b" * 50)
    assert result == "a" * 99
    assert len(normalize_objet("é" * 300)) == 100
