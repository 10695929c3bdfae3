"""An independent client proves the simulator answers as the real service does.

eopayment (Entr'ouvert) drives PayFiP with zeep and the DGFiP WSDL it ships; its fixtures
were recorded against the real server. It only talks to www.payfip.gouv.fr, so each test
points its zeep service at the simulator, which runs on a loopback port in a thread (zeep
and requests are synchronous).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import eopayment
import httpx
import pytest
from eopayment.payfip_ws import PayFiP, PayFiPError

from simulators.payfip import (
    ACCEPTED_CARD,
    REFUSED_CARD,
    RunningSimulator,
    SimulatorState,
    simulator_in_thread,
)

NOTIF_URL = "https://notif.payfip.example.com/"
REDIRECT_URL = "https://redirect.payfip.example.com/"


@pytest.fixture(scope="module")
def notified() -> list[tuple[str, dict[str, str]]]:
    return []


@pytest.fixture(scope="module")
def simulator(notified: list[tuple[str, dict[str, str]]]) -> Iterator[RunningSimulator]:
    async def notify(url: str, body: dict[str, str]) -> None:
        notified.append((url, body))

    with simulator_in_thread(state=SimulatorState(notify=notify)) as running:
        yield running


def pointed_at(payfip: PayFiP, simulator: RunningSimulator) -> PayFiP:
    """eopayment ignores its service_url; set the address of the zeep service instead."""
    payfip.client.service._binding_options["address"] = simulator.soap_url
    return payfip


@pytest.fixture
def payfip(simulator: RunningSimulator) -> PayFiP:
    return pointed_at(PayFiP(), simulator)


@pytest.fixture
def payment(simulator: RunningSimulator) -> eopayment.Payment:
    payment = eopayment.Payment(
        "payfip_ws",
        {
            "numcli": "090909",
            "saisie": "T",
            "automatic_return_url": NOTIF_URL,
            "normal_return_url": REDIRECT_URL,
        },
    )
    pointed_at(payment.backend.payfip, simulator)
    return payment


def get_idop(payfip: PayFiP, **overrides: str) -> str:
    fields = {
        "numcli": "090909",
        "saisie": "T",
        "exer": "2019",
        "refdet": "ABCDEFGH",
        "montant": "1000",
        "mel": "john.doe@example.com",
        "url_notification": NOTIF_URL,
        "url_redirect": REDIRECT_URL,
        "objet": "coucou",
        **overrides,
    }
    return str(payfip.get_idop(**fields))


def pay(simulator: RunningSimulator, idop: str, path: str, **data: str) -> httpx.Response:
    """What a browser does on the payment page; returns the redirect to urlredirect."""
    with httpx.Client(base_url=simulator.base_url, trust_env=False) as browser:
        assert browser.get(simulator.payment_page(idop)).status_code == 200
        response = browser.post(f"/tpa/paiementws.web/{path}", data={"idop": idop, **data})
    assert response.status_code == 303
    return response


def test_get_idop_then_p5(payfip: PayFiP) -> None:
    idop = get_idop(payfip)
    assert re.fullmatch(r"[0-9a-f-]{36}", idop)
    with pytest.raises(PayFiPError, match=r".*P5.*sultat de la transaction non connu.*") as error:
        payfip.get_info_paiement(idop)
    assert error.value.code == "P5"


@pytest.mark.parametrize(
    ("path", "data", "resultrans"),
    [
        ("carte", {"numero_carte": ACCEPTED_CARD}, "P"),
        ("prelevement", {"decision": "accepte"}, "V"),
        ("carte", {"numero_carte": REFUSED_CARD}, "R"),
        ("prelevement", {"decision": "refuse"}, "Z"),
        ("annulation", {}, "A"),
    ],
)
def test_results_read_back(
    payfip: PayFiP,
    simulator: RunningSimulator,
    notified: list[tuple[str, dict[str, str]]],
    path: str,
    data: dict[str, str],
    resultrans: str,
) -> None:
    idop = get_idop(payfip)
    pay(simulator, idop, path, **data)
    info = payfip.get_info_paiement(idop)
    assert info.resultrans == resultrans
    assert info.idOp == idop
    assert (info.numcli, info.exer, info.refdet, info.montant) == (
        "090909",
        "2019",
        "ABCDEFGH",
        "1000",
    )
    assert (info.mel, info.objet, info.saisie) == ("john.doe@example.com", "coucou", "T")
    assert re.fullmatch(r"\d{8}", info.dattrans)
    assert re.fullmatch(r"\d{4}", info.heurtrans)
    if resultrans in ("P", "V"):
        assert re.fullmatch(r"\d{12}-tip", info.numauto)
    else:
        assert info.numauto is None
    assert (NOTIF_URL, {"idop": idop}) in notified


def test_payment_backend_end_to_end(
    payment: eopayment.Payment, simulator: RunningSimulator
) -> None:
    idop, kind, url = payment.request(
        "243.11", email="john.doe@example.com", refdet="FACTURE2024001"
    )
    assert kind == eopayment.URL
    assert url == f"https://www.payfip.gouv.fr/tpa/paiementws.web?idop={idop}"
    assert payment.payment_status(idop).result == eopayment.WAITING

    redirect = pay(simulator, idop, "carte", numero_carte=ACCEPTED_CARD)
    location = urlsplit(redirect.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URL
    # The portal hands the browser's query string to eopayment, which reads `idop`.
    response = payment.response(location.query)
    assert response.result == eopayment.PAID
    assert response.bank_status == "paid CB"
    assert response.order_id == idop
    assert response.test is True
    refdet, returned_idop, numauto = response.transaction_id.split(" ")
    assert (refdet, returned_idop) == ("FACTURE2024001", idop)
    assert response.bank_data["montant"] == "24311"
    assert response.bank_data["numauto"] == numauto


def test_cancelled_and_denied_through_the_backend(
    payment: eopayment.Payment, simulator: RunningSimulator
) -> None:
    idop, _, _ = payment.request("10.00", email="john.doe@example.com", refdet="FACTURE2024002")
    pay(simulator, idop, "prelevement", decision="refuse")
    assert payment.payment_status(idop).result == eopayment.DENIED

    idop, _, _ = payment.request("10.00", email="john.doe@example.com", refdet="FACTURE2024003")
    pay(simulator, idop, "annulation")
    # eopayment keeps an A as WAITING during its first 2 minutes (the idop may still be used).
    status = payment.payment_status(idop)
    assert status.result == eopayment.WAITING
    assert status.bank_data["resultrans"] == "A"


def test_purged_idop_is_expired(payment: eopayment.Payment, simulator: RunningSimulator) -> None:
    idop, _, _ = payment.request("10.00", email="john.doe@example.com", refdet="FACTURE2024004")
    simulator.state.operations.pop(idop)  # the nightly purge, for this idop only
    assert payment.payment_status(idop).result == eopayment.EXPIRED


def test_info_client(payfip: PayFiP) -> None:
    info = payfip.get_info_client("090909")
    assert info.numcli == "090909"
    assert (info.libelleN1, info.libelleN2, info.libelleN3) == (
        "REGIE CANTINE SIMULEE",
        "COMMUNE DE DEMONSTRATION",
        "RESTAURATION SCOLAIRE",
    )


def test_recorded_faults(payfip: PayFiP) -> None:
    with pytest.raises(PayFiPError) as error:
        get_idop(payfip, refdet="ABCD")
    assert (error.value.code, error.value.message) == (
        "R3",
        "Le format du paramètre REFDET n'est pas conforme",
    )
    with pytest.raises(PayFiPError) as error:
        get_idop(payfip, refdet="ABCDEF", mel="john.doeexample.com", montant="9990000001")
    assert (error.value.code, error.value.message) == ("A2", "Adresse mél incorrecte.")
    with pytest.raises(PayFiPError, match=r".*P1.*IdOp incorrect.*") as error:
        payfip.get_info_paiement("cc0cb210-1cd4-11ea-8cca-0213ad91a103")
    assert error.value.code == "P1"


def test_technical_fault_is_not_functional(payfip: PayFiP, simulator: RunningSimulator) -> None:
    simulator.state.queue_fault("TechIndisponibiliteErreur", operation="recupererDetailClient")
    with pytest.raises(PayFiPError) as error:
        payfip.get_info_client("090909")
    assert error.value.code == "unknown"
    assert error.value.message.endswith(".TechIndisponibiliteErreur")


def test_tipi_backend(simulator: RunningSimulator) -> None:
    """eopayment's TIPI backend builds the page URL and reads the POST back to urlcl."""
    tipi = eopayment.Payment(
        "tipi",
        {"numcli": "090909", "saisie": "T", "automatic_return_url": "https://portail.example/tipi"},
    )
    refdet, kind, url = tipi.request("243.11", email="john.doe@example.com", exer="2024")
    assert kind == eopayment.URL
    query = urlsplit(url).query
    with httpx.Client(base_url=simulator.base_url, trust_env=False) as browser:
        page = browser.get(f"{simulator.tipi_url}?{query}")
        assert page.status_code == 200, page.text
        session = re.search(r'name="session" value="([0-9a-f]+)"', page.text)
        assert session is not None
        back = browser.post(
            "/tpa/paiement.web/carte",
            data={"session": session.group(1), "numero_carte": ACCEPTED_CARD},
        )
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', back.text))
    assert 'action="https://portail.example/tipi"' in back.text
    response = tipi.response(urlencode(fields))
    assert response.result == eopayment.PAID
    assert response.order_id == refdet
    assert response.bank_data["montant"] == "24311"
    assert response.test is True
