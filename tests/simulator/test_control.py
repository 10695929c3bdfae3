"""Control endpoints, and the simulator served on a real loopback socket."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from simulators.payfip import SimulatorState, running_simulator
from tests.simulator.conftest import RecordingNotifier
from tests.simulator.helpers import VALID_REQUEST, create_idop, fault, result, soap

CONTROL = "/_simulateur"


async def test_behaviour_round_trip(client: httpx.AsyncClient, state: SimulatorState) -> None:
    knobs = (await client.get(f"{CONTROL}/comportement")).json()
    assert knobs == {
        "notifications": "send",
        "duplicates": 5,
        "notification_delay": 0.0,
        "notification_field": "idop",
        "return_method": "GET",
        "tipi_return_method": "POST",
        "fault_queue": [],
        "known_numcli": None,
        "client_labels": [
            "REGIE CANTINE SIMULEE",
            "COMMUNE DE DEMONSTRATION",
            "RESTAURATION SCOLAIRE",
        ],
        "max_amount": 9999999,
    }
    response = await client.post(
        f"{CONTROL}/comportement",
        json={
            "notifications": "duplicate",
            "duplicates": 2,
            "notification_delay": 1,
            "notification_field": "alternate",
            "return_method": "post",
            "tipi_return_method": "GET",
            "fault_queue": [
                "P5",
                {"code": "TechIndisponibiliteErreur", "operation": "recupererDetailClient"},
            ],
            "known_numcli": ["090909"],
        },
    )
    assert response.status_code == 200
    knobs = response.json()
    assert knobs["return_method"] == "POST"
    assert knobs["fault_queue"] == [
        {"code": "P5", "operation": None, "kind": "FonctionnelleErreur", "libelle": None},
        {
            "code": "",
            "operation": "recupererDetailClient",
            "kind": "TechIndisponibiliteErreur",
            "libelle": None,
        },
    ]
    assert state.notifications == "duplicate"
    assert state.notification_delay == 1.0
    assert state.known_numcli == {"090909"}
    assert state.tipi_return_method == "GET"


@pytest.mark.parametrize(
    "body",
    [
        {"notifications": "sometimes"},
        {"duplicates": 0},
        {"notification_delay": -1},
        {"colour": "blue"},
        {"fault_queue": [{"code": "P5", "operation": "supprimer"}]},
        {"fault_queue": [{"kind": "FonctionnelleErreur"}]},
        {"known_numcli": ["12"]},
        {"return_method": "PUT", "notifications": "lose"},
    ],
)
async def test_bad_behaviour_changes_nothing(
    client: httpx.AsyncClient, state: SimulatorState, body: dict[str, object]
) -> None:
    before = state.knobs()
    response = await client.post(f"{CONTROL}/comportement", json=body)
    assert response.status_code == 400
    assert state.knobs() == before


async def test_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{CONTROL}/comportement", content=b"[1, 2]")
    assert response.status_code == 400


async def test_faults_queued_over_http(client: httpx.AsyncClient) -> None:
    await client.post(
        f"{CONTROL}/comportement",
        json={"fault_queue": [{"code": "P1", "operation": "creerPaiementSecurise"}]},
    )
    assert fault(await soap(client, "creerPaiementSecurise", VALID_REQUEST))["code"] == "P1"
    await create_idop(client)


async def test_operations_purge_and_result(
    client: httpx.AsyncClient, state: SimulatorState, notifier: RecordingNotifier
) -> None:
    idop = await create_idop(client)
    (listed,) = (await client.get(f"{CONTROL}/operations")).json()
    assert listed["idop"] == idop
    assert listed["resultrans"] is None
    assert listed["refdet"] == VALID_REQUEST["refdet"]
    assert listed["notifications"] == 0

    response = await client.post(f"{CONTROL}/operations/{idop}/resultat", json={"resultrans": "V"})
    assert response.status_code == 200
    assert response.json()["resultrans"] == "V"
    assert notifier.calls == [(VALID_REQUEST["urlnotif"], {"idop": idop})]
    assert (await client.get(f"{CONTROL}/operations")).json()[0]["notifications"] == 1
    notifications = (await client.get(f"{CONTROL}/notifications")).json()
    assert notifications[0]["body"] == {"idop": idop}

    again = await client.post(f"{CONTROL}/operations/{idop}/resultat", json={"resultrans": "P"})
    assert again.status_code == 400
    unknown = await client.post(f"{CONTROL}/operations/nope/resultat", json={"resultrans": "P"})
    assert unknown.status_code == 404

    quiet = await create_idop(client)
    await client.post(
        f"{CONTROL}/operations/{quiet}/resultat", json={"resultrans": "A", "notifier": False}
    )
    assert len(notifier.calls) == 1

    assert (await client.post(f"{CONTROL}/purge")).json() == {"purged": 2}
    assert (await client.get(f"{CONTROL}/operations")).json() == []
    answer = fault(await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}))
    assert answer["code"] == "P1"


async def test_dashboard(client: httpx.AsyncClient, state: SimulatorState) -> None:
    idop = await create_idop(client, montant="24311")
    state.set_result(idop, "P")
    await create_idop(client)
    page = (await client.get(CONTROL)).text
    assert "Tableau de bord du simulateur" in page
    assert idop in page
    assert "243,11 €" in page
    assert "payée par carte bancaire" in page
    assert "en attente" in page
    assert "notification_delay" in page
    purged = await client.post(f"{CONTROL}/purge", data={"confirmer": "1"})
    assert purged.status_code == 303
    assert purged.headers["location"] == CONTROL


async def test_reset(client: httpx.AsyncClient, state: SimulatorState) -> None:
    await create_idop(client)
    state.configure(notifications="lose", fault_queue=["P5"])
    response = await client.post(f"{CONTROL}/reinitialisation")
    assert response.json()["notifications"] == "send"
    assert state.operations == {}
    assert state.fault_queue == []
    assert state.notify is not None  # the injected sender is not a knob


async def receive_notifications() -> tuple[asyncio.Server, int, list[bytes]]:
    """A bare loopback HTTP server that keeps each request it gets and answers 200."""
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        requests.append(head + await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], requests


async def test_running_simulator_on_loopback() -> None:
    receiver, receiver_port, received = await receive_notifications()
    async with receiver, running_simulator() as simulator:
        assert simulator.base_url.startswith("http://127.0.0.1:")
        assert simulator.soap_url == simulator.base_url + "/tpa/services/securite"
        assert simulator.payment_url == simulator.base_url + "/tpa/paiementws.web"
        assert simulator.tipi_url == simulator.base_url + "/tpa/paiement.web"
        async with httpx.AsyncClient(base_url=simulator.base_url) as client:
            idop = await create_idop(
                client, urlnotif=f"http://127.0.0.1:{receiver_port}/notification"
            )
            page = await client.get(simulator.payment_page(idop))
            assert page.status_code == 200
            paid = await client.post(
                simulator.payment_url + "/carte",
                data={"idop": idop, "numero_carte": "4242424242424242"},
            )
            assert paid.status_code == 303
            detail = result(
                await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}),
                "recupererDetailPaiementSecurise",
            )
            assert detail["resultrans"] == "P"
        (request,) = received
        assert request.startswith(b"POST /notification HTTP/1.1\r\n")
        assert b"content-type: application/x-www-form-urlencoded" in request.lower()
        assert request.endswith(f"\r\n\r\nidop={idop}".encode())
        assert simulator.state.notification_log[0].error is None
        base_url = simulator.base_url
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(base_url + "/_simulateur")


async def test_running_simulator_with_given_state_and_a_dead_notification_url() -> None:
    state = SimulatorState(notify_timeout=1)
    async with running_simulator(state=state) as simulator:
        assert simulator.state is state
        async with httpx.AsyncClient(base_url=simulator.base_url) as client:
            # Port 9 (discard) on loopback: nothing listens, the POST fails fast.
            idop = await create_idop(client, urlnotif="http://127.0.0.1:9/notification")
            paid = await client.post(simulator.payment_url + "/annulation", data={"idop": idop})
            assert paid.status_code == 303
    (record,) = state.notification_log
    assert record.error is not None
