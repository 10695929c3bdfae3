"""The SOAP web service answers as the real PayFiP server does (payfip.md §2 and §7)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from simulators.payfip import QueuedFault, SimulatorState
from tests.simulator.helpers import (
    SERVICE_NS,
    SOAP_ENV,
    VALID_REQUEST,
    create_idop,
    fault,
    post_raw,
    result,
    soap,
)

FUNCTIONAL = "fr.gouv.finances.cp.tpa.webservice.exceptions.FonctionnelleErreur"


async def test_creer_paiement_returns_a_uuid_idop(client: httpx.AsyncClient) -> None:
    response = await soap(client, "creerPaiementSecurise", VALID_REQUEST)
    returned = result(response, "creerPaiementSecurise")
    assert list(returned) == ["idOp"]
    assert len(returned["idOp"]) == 36
    assert uuid.UUID(returned["idOp"]).version == 4


async def test_each_creation_gets_a_new_idop(client: httpx.AsyncClient) -> None:
    assert await create_idop(client) != await create_idop(client)


async def test_detail_is_p5_until_a_result_is_known(client: httpx.AsyncClient) -> None:
    idop = await create_idop(client)
    answer = fault(await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}))
    assert (answer["code"], answer["libelle"]) == ("P5", "Résultat de la transaction non connu.")


async def test_detail_of_a_paid_operation(client: httpx.AsyncClient, state: SimulatorState) -> None:
    idop = await create_idop(client)
    state.set_result(idop, "P")
    detail = result(
        await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}),
        "recupererDetailPaiementSecurise",
    )
    # The XSD's sequence order, which zeep relies on.
    assert list(detail) == [
        "dattrans",
        "exer",
        "heurtrans",
        "idOp",
        "mel",
        "montant",
        "numauto",
        "numcli",
        "objet",
        "refdet",
        "resultrans",
        "saisie",
    ]
    assert re.fullmatch(r"\d{8}", detail["dattrans"])
    assert re.fullmatch(r"\d{4}", detail["heurtrans"])
    assert re.fullmatch(r"\d{12}-tip", detail["numauto"])
    assert detail["idOp"] == idop
    assert detail["resultrans"] == "P"
    for name in ("exer", "mel", "montant", "numcli", "objet", "refdet", "saisie"):
        assert detail[name] == VALID_REQUEST[name]


@pytest.mark.parametrize("code", ["R", "Z", "A"])
async def test_detail_has_no_numauto_unless_paid(
    client: httpx.AsyncClient, state: SimulatorState, code: str
) -> None:
    idop = await create_idop(client)
    state.set_result(idop, code)
    detail = result(
        await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}),
        "recupererDetailPaiementSecurise",
    )
    assert detail["resultrans"] == code
    assert "numauto" not in detail


async def test_detail_omits_an_empty_objet(
    client: httpx.AsyncClient, state: SimulatorState
) -> None:
    fields = {k: v for k, v in VALID_REQUEST.items() if k != "objet"}
    idop = result(await soap(client, "creerPaiementSecurise", fields), "creerPaiementSecurise")[
        "idOp"
    ]
    state.set_result(idop, "V")
    detail = result(
        await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}),
        "recupererDetailPaiementSecurise",
    )
    assert "objet" not in detail
    assert re.fullmatch(r"\d{12}-tip", detail["numauto"])


async def test_unknown_idop_is_p1(client: httpx.AsyncClient) -> None:
    answer = fault(
        await soap(client, "recupererDetailPaiementSecurise", {"idOp": str(uuid.uuid4())})
    )
    assert answer == {
        "faultcode": "S:Server",
        "faultstring": FUNCTIONAL,
        "kind": "FonctionnelleErreur",
        "code": "P1",
        "descriptif": "",
        "libelle": "IdOp incorrect.",
        "message": "IdOp incorrect.",
        "severite": "2",
    }


async def test_field_names_are_case_sensitive(client: httpx.AsyncClient) -> None:
    """A lowercase <idop> is not the field: P1, even for an idop just issued."""
    idop = await create_idop(client)
    answer = fault(await soap(client, "recupererDetailPaiementSecurise", {"idop": idop}))
    assert answer["code"] == "P1"


async def test_qualified_fields_are_ignored(client: httpx.AsyncClient) -> None:
    idop = await create_idop(client)
    body = (
        f'<S:Envelope xmlns:S="{SOAP_ENV}" xmlns:t="{SERVICE_NS}"><S:Body>'
        f"<t:recupererDetailPaiementSecurise><arg0><t:idOp>{idop}</t:idOp></arg0>"
        "</t:recupererDetailPaiementSecurise></S:Body></S:Envelope>"
    ).encode()
    assert fault(await post_raw(client, body))["code"] == "P1"


async def test_purged_idop_is_p1(client: httpx.AsyncClient, state: SimulatorState) -> None:
    idop = await create_idop(client)
    state.set_result(idop, "P")
    assert state.purge() == 1
    answer = fault(await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}))
    assert answer["code"] == "P1"


async def test_recorded_r3_for_a_short_refdet(client: httpx.AsyncClient) -> None:
    answer = fault(await soap(client, "creerPaiementSecurise", {**VALID_REQUEST, "refdet": "ABCD"}))
    assert answer["faultstring"] == FUNCTIONAL
    assert (answer["code"], answer["libelle"], answer["severite"]) == (
        "R3",
        "Le format du paramètre REFDET n'est pas conforme",
        "2",
    )
    assert answer["descriptif"] == ""


async def test_recorded_a2_wins_over_the_amount(client: httpx.AsyncClient) -> None:
    fields = {
        **VALID_REQUEST,
        "mel": "john.doeexample.com",
        "refdet": "ABCDEF",
        "montant": "9990000001",
    }
    answer = fault(await soap(client, "creerPaiementSecurise", fields))
    assert (answer["code"], answer["libelle"]) == ("A2", "Adresse mél incorrecte.")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"refdet": ""}, "R3"),
        ({"refdet": "ABC-DEF"}, "R3"),
        ({"refdet": "A" * 31}, "R3"),
        ({"mel": ""}, "A1"),
        ({"mel": "a@b.c" + "x" * 80}, "A2"),
        ({"numcli": "12345"}, "T1"),
        ({"numcli": "12345a"}, "T1"),
        ({"saisie": "A"}, "S1"),
        ({"montant": "10.00"}, "M1"),
        ({"montant": "99"}, "M3"),
        ({"montant": "10000000"}, "M5"),
        ({"urlnotif": "ftp://notif.example.com/"}, "N1"),
        ({"urlredirect": "javascript:alert(1)"}, "D1"),
    ],
)
async def test_creation_validation(
    client: httpx.AsyncClient, overrides: dict[str, str], code: str
) -> None:
    answer = fault(await soap(client, "creerPaiementSecurise", {**VALID_REQUEST, **overrides}))
    assert answer["code"] == code
    assert answer["libelle"]


async def test_boundary_amounts_are_accepted(client: httpx.AsyncClient) -> None:
    await create_idop(client, montant="100")
    await create_idop(client, montant="9999999")


async def test_unknown_client_is_t2(client: httpx.AsyncClient, state: SimulatorState) -> None:
    state.known_numcli = {"090909"}
    answer = fault(
        await soap(client, "creerPaiementSecurise", {**VALID_REQUEST, "numcli": "123456"})
    )
    assert answer["code"] == "T2"
    await create_idop(client)


async def test_detail_client(client: httpx.AsyncClient, state: SimulatorState) -> None:
    state.client_labels = ("RR COMPOSTEURS INDIVIDUELS", "POUETPOUET", "COLLECTE VALORISATION")
    answer = result(
        await soap(client, "recupererDetailClient", {"numCli": "090909"}), "recupererDetailClient"
    )
    assert answer == {
        "libelleN1": "RR COMPOSTEURS INDIVIDUELS",
        "libelleN2": "POUETPOUET",
        "libelleN3": "COLLECTE VALORISATION",
        "numcli": "090909",
    }


async def test_detail_client_faults(client: httpx.AsyncClient, state: SimulatorState) -> None:
    # The request field is numCli: "numcli" is not read.
    answer = fault(await soap(client, "recupererDetailClient", {"numcli": "090909"}))
    assert answer["code"] == "T1"
    state.known_numcli = {"090909"}
    answer = fault(await soap(client, "recupererDetailClient", {"numCli": "123456"}))
    assert answer["code"] == "T2"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'>",
        b"<Envelope><Body/></Envelope>",
        f"<S:Envelope xmlns:S='{SOAP_ENV}'><S:Body/></S:Envelope>".encode(),
    ],
)
async def test_malformed_requests_get_a_fault(client: httpx.AsyncClient, body: bytes) -> None:
    answer = fault(await post_raw(client, body))
    assert answer["faultcode"] == "S:Client"
    assert answer["kind"] == "TechProtocolaireErreur"
    assert answer["faultstring"].endswith(".TechProtocolaireErreur")


async def test_xml_bomb_is_refused(client: httpx.AsyncClient) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        f'<S:Envelope xmlns:S="{SOAP_ENV}" xmlns:t="{SERVICE_NS}"><S:Body>'
        "<t:recupererDetailClient><arg0><numCli>&lol3;</numCli></arg0></t:recupererDetailClient>"
        "</S:Body></S:Envelope>"
    ).encode()
    answer = fault(await post_raw(client, bomb))
    assert answer["kind"] == "TechProtocolaireErreur"


async def test_dtd_and_external_entities_are_refused(client: httpx.AsyncClient) -> None:
    for doctype in (
        '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE S:Envelope SYSTEM "http://example.com/x.dtd">',
    ):
        body = (
            f'<?xml version="1.0"?>{doctype}'
            f'<S:Envelope xmlns:S="{SOAP_ENV}" xmlns:t="{SERVICE_NS}"><S:Body>'
            "<t:recupererDetailClient><arg0><numCli>090909</numCli></arg0>"
            "</t:recupererDetailClient></S:Body></S:Envelope>"
        ).encode()
        answer = fault(await post_raw(client, body))
        assert answer["kind"] == "TechProtocolaireErreur"
        assert "root:" not in answer["libelle"]


async def test_unknown_operation_and_wrong_namespace(client: httpx.AsyncClient) -> None:
    answer = fault(await soap(client, "supprimerPaiement", {"idOp": "x"}))
    assert answer["kind"] == "TechProtocolaireErreur"
    body = (
        f'<S:Envelope xmlns:S="{SOAP_ENV}"><S:Body>'
        "<recupererDetailClient><arg0><numCli>090909</numCli></arg0></recupererDetailClient>"
        "</S:Body></S:Envelope>"
    ).encode()
    assert fault(await post_raw(client, body))["kind"] == "TechProtocolaireErreur"


async def test_soap_12_is_a_version_mismatch(client: httpx.AsyncClient) -> None:
    body = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
        f'<t:recupererDetailClient xmlns:t="{SERVICE_NS}"><arg0><numCli>090909</numCli></arg0>'
        "</t:recupererDetailClient></env:Body></env:Envelope>"
    ).encode()
    assert fault(await post_raw(client, body))["faultcode"] == "S:VersionMismatch"


async def test_queued_faults_answer_the_next_calls(
    client: httpx.AsyncClient, state: SimulatorState
) -> None:
    state.fault_queue.extend(["P5", "TechIndisponibiliteErreur"])
    first = fault(await soap(client, "creerPaiementSecurise", VALID_REQUEST))
    assert (first["code"], first["kind"]) == ("P5", "FonctionnelleErreur")
    second = fault(await soap(client, "recupererDetailClient", {"numCli": "090909"}))
    assert second["kind"] == "TechIndisponibiliteErreur"
    assert second["faultstring"] == (
        "fr.gouv.finances.cp.tpa.webservice.exceptions.TechIndisponibiliteErreur"
    )
    assert second["faultcode"] == "S:Server"
    assert second["code"]
    assert state.fault_queue == []
    await create_idop(client)


async def test_queued_fault_scoped_to_an_operation(
    client: httpx.AsyncClient, state: SimulatorState
) -> None:
    idop = await create_idop(client)
    state.set_result(idop, "P")
    state.queue_fault("TechDysfonctionnementErreur", operation="recupererDetailPaiementSecurise")
    state.fault_queue.append(QueuedFault("P1", operation="recupererDetailPaiementSecurise"))
    await create_idop(client)  # not consumed by another operation
    answer = fault(await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}))
    assert answer["kind"] == "TechDysfonctionnementErreur"
    answer = fault(await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}))
    assert answer["code"] == "P1"
    detail = result(
        await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}),
        "recupererDetailPaiementSecurise",
    )
    assert detail["resultrans"] == "P"


async def test_get_is_not_the_web_service(client: httpx.AsyncClient) -> None:
    assert (await client.get("/tpa/services/securite")).status_code == 405


def test_a_fault_may_name_the_operation_it_is_for() -> None:
    """A queued fault with an idop is taken only by a call about that operation, so another
    payment's check does not consume it."""
    state = SimulatorState()
    state.fault_queue.append(
        QueuedFault("P5", operation="recupererDetailPaiementSecurise", idop="OP-B")
    )
    assert state.take_fault("recupererDetailPaiementSecurise", "OP-A") is None
    taken = state.take_fault("recupererDetailPaiementSecurise", "OP-B")
    assert taken is not None and taken.code == "P5"
    assert state.fault_queue == []
    parsed = QueuedFault.parse({"code": "P5", "idop": "OP-C"})
    assert parsed.idop == "OP-C" and parsed.to_json()["idop"] == "OP-C"
