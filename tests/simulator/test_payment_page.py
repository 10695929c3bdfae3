"""The `paiementws.web` page: choices, results, notifications and the way back to the portal."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar import Litestar, Request, post

from simulators.payfip import (
    ACCEPTED_CARD,
    REFUSED_CARD,
    SimulatorState,
    asgi_notifier,
    create_simulator_app,
)
from tests.simulator.conftest import RecordingNotifier
from tests.simulator.helpers import VALID_REQUEST, create_idop, fault, forms, result, soap

PAGE = "/tpa/paiementws.web"


async def detail(client: httpx.AsyncClient, idop: str) -> dict[str, str]:
    response = await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop})
    return result(response, "recupererDetailPaiementSecurise")


async def test_page_shows_the_debt_and_the_test_warning(client: httpx.AsyncClient) -> None:
    idop = await create_idop(client, montant="24311", refdet="X9900301010000001317")
    response = await client.get(PAGE, params={"idop": idop})
    assert response.status_code == 200
    page = response.text
    assert '<html lang="fr">' in page
    assert "Bienvenue sur la solution de paiement de la DGFIP" in page
    assert "Attention il s'agit d'un paiement de test." in page
    assert "Aucun paiement ne sera réellement effectué." in page
    assert "Informations sur la dette" in page
    assert "X9900301010000001317" in page
    assert "243,11 €" in page
    assert "john.doe@example.com" in page
    assert "Choix du mode de paiement" in page
    for label in (
        "Payer par carte bancaire",
        "Prélèvement accepté",
        "Prélèvement refusé",
        "Annuler",
    ):
        assert f">{label}</button>" in page
    assert '<label for="numero_carte">Numéro de carte</label>' in page
    assert "4242 4242 4242 4242" in page
    assert "4000 0000 0000 0002" in page
    actions = [form["action"] for form in forms(page)]
    assert actions == [f"{PAGE}/carte", f"{PAGE}/prelevement", f"{PAGE}/annulation"]
    card, debit, cancel = (form["fields"] for form in forms(page))
    assert card == {"idop": idop, "numero_carte": ""}
    assert debit == cancel == {"idop": idop}


async def test_no_test_warning_in_production(client: httpx.AsyncClient) -> None:
    idop = await create_idop(client, saisie="W", montant="9876543")
    page = (await client.get(PAGE, params={"idop": idop})).text
    assert "paiement de test" not in page
    assert "98 765,43 €" in page


async def test_card_accepted(
    client: httpx.AsyncClient, state: SimulatorState, notifier: RecordingNotifier
) -> None:
    idop = await create_idop(client)
    await client.get(PAGE, params={"idop": idop})
    assert state.operations[idop].page_seen
    response = await client.post(
        f"{PAGE}/carte", data={"idop": idop, "numero_carte": "4242 4242 4242 4242"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{VALID_REQUEST['urlredirect']}?idop={idop}"
    paid = await detail(client, idop)
    assert paid["resultrans"] == "P"
    assert re.fullmatch(r"\d{12}-tip", paid["numauto"])
    assert notifier.calls == [(VALID_REQUEST["urlnotif"], {"idop": idop})]
    (record,) = state.notification_log
    assert (record.idop, record.url, record.body, record.error) == (
        idop,
        VALID_REQUEST["urlnotif"],
        {"idop": idop},
        None,
    )


async def test_card_refused(client: httpx.AsyncClient, notifier: RecordingNotifier) -> None:
    idop = await create_idop(client)
    response = await client.post(f"{PAGE}/carte", data={"idop": idop, "numero_carte": REFUSED_CARD})
    assert response.status_code == 303
    refused = await detail(client, idop)
    assert refused["resultrans"] == "R"
    assert "numauto" not in refused
    assert len(notifier.calls) == 1


@pytest.mark.parametrize(("number", "message"), [("1234", "pas reconnu"), ("  ", "Saisissez")])
async def test_other_card_numbers_stay_on_the_page(
    client: httpx.AsyncClient, notifier: RecordingNotifier, number: str, message: str
) -> None:
    idop = await create_idop(client)
    response = await client.post(f"{PAGE}/carte", data={"idop": idop, "numero_carte": number})
    assert response.status_code == 400
    assert message in response.text
    assert 'role="alert"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert (
        fault(await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}))["code"] == "P5"
    )
    assert notifier.calls == []


@pytest.mark.parametrize(("decision", "code"), [("accepte", "V"), ("refuse", "Z")])
async def test_direct_debit(
    client: httpx.AsyncClient, notifier: RecordingNotifier, decision: str, code: str
) -> None:
    idop = await create_idop(client)
    response = await client.post(f"{PAGE}/prelevement", data={"idop": idop, "decision": decision})
    assert response.status_code == 303
    settled = await detail(client, idop)
    assert settled["resultrans"] == code
    assert ("numauto" in settled) == (code == "V")
    assert notifier.calls == [(VALID_REQUEST["urlnotif"], {"idop": idop})]


async def test_direct_debit_needs_a_decision(client: httpx.AsyncClient) -> None:
    idop = await create_idop(client)
    response = await client.post(f"{PAGE}/prelevement", data={"idop": idop})
    assert response.status_code == 400


async def test_cancel(client: httpx.AsyncClient, notifier: RecordingNotifier) -> None:
    idop = await create_idop(client)
    response = await client.post(f"{PAGE}/annulation", data={"idop": idop})
    assert response.status_code == 303
    assert (await detail(client, idop))["resultrans"] == "A"
    assert len(notifier.calls) == 1


async def test_a_finished_operation_cannot_be_paid_again(
    client: httpx.AsyncClient, notifier: RecordingNotifier
) -> None:
    idop = await create_idop(client)
    await client.post(f"{PAGE}/carte", data={"idop": idop, "numero_carte": REFUSED_CARD})
    page = await client.get(PAGE, params={"idop": idop})
    assert page.status_code == 409
    assert "Cette opération est terminée" in page.text
    assert "numero_carte" not in page.text
    for path, data in (
        ("carte", {"numero_carte": ACCEPTED_CARD}),
        ("prelevement", {"decision": "accepte"}),
        ("annulation", {}),
    ):
        again = await client.post(f"{PAGE}/{path}", data={"idop": idop, **data})
        assert again.status_code == 409
    assert (await detail(client, idop))["resultrans"] == "R"
    assert len(notifier.calls) == 1


async def test_unknown_idop_page(client: httpx.AsyncClient) -> None:
    for params in ({"idop": "cc0cb210-1cd4-11ea-8cca-0213ad91a103"}, {}):
        response = await client.get(PAGE, params=params)
        assert response.status_code == 404
        assert "Opération inconnue" in response.text
    response = await client.post(f"{PAGE}/carte", data={"idop": "x", "numero_carte": ACCEPTED_CARD})
    assert response.status_code == 404


async def test_expired_idop(client: httpx.AsyncClient, state: SimulatorState) -> None:
    idop = await create_idop(client)
    later = state.operations[idop].created_at + timedelta(minutes=16)
    state.clock = lambda: later
    response = await client.get(PAGE, params={"idop": idop})
    assert response.status_code == 410
    assert "Délai de paiement dépassé" in response.text
    response = await client.post(
        f"{PAGE}/carte", data={"idop": idop, "numero_carte": ACCEPTED_CARD}
    )
    assert response.status_code == 410
    assert (
        fault(await soap(client, "recupererDetailPaiementSecurise", {"idOp": idop}))["code"] == "P5"
    )


async def test_return_by_post(client: httpx.AsyncClient, state: SimulatorState) -> None:
    state.return_method = "POST"
    idop = await create_idop(client, urlredirect="https://portail.example/retour?commune=sistec")
    response = await client.post(
        f"{PAGE}/carte", data={"idop": idop, "numero_carte": ACCEPTED_CARD}
    )
    assert response.status_code == 200
    (form,) = forms(response.text)
    assert form == {
        "action": "https://portail.example/retour?commune=sistec",
        "method": "post",
        "fields": {"idop": idop},
    }
    assert ">Retour au site</button>" in response.text
    assert "submit()" in response.text


async def test_redirect_keeps_the_return_url_query(client: httpx.AsyncClient) -> None:
    idop = await create_idop(client, urlredirect="https://portail.example/retour?commune=sistec")
    response = await client.post(f"{PAGE}/annulation", data={"idop": idop})
    location = urlsplit(response.headers["location"])
    assert location.netloc == "portail.example"
    assert parse_qs(location.query) == {"commune": ["sistec"], "idop": [idop]}


async def test_lost_notification(
    client: httpx.AsyncClient, state: SimulatorState, notifier: RecordingNotifier
) -> None:
    state.notifications = "lose"
    idop = await create_idop(client)
    response = await client.post(
        f"{PAGE}/carte", data={"idop": idop, "numero_carte": ACCEPTED_CARD}
    )
    assert response.status_code == 303
    assert notifier.calls == []
    assert state.operations[idop].notification_lost
    assert (await detail(client, idop))["resultrans"] == "P"


async def test_duplicated_notifications(
    client: httpx.AsyncClient, state: SimulatorState, notifier: RecordingNotifier
) -> None:
    state.configure(notifications="duplicate", duplicates=3)
    idop = await create_idop(client)
    await client.post(f"{PAGE}/carte", data={"idop": idop, "numero_carte": ACCEPTED_CARD})
    assert notifier.calls == [(VALID_REQUEST["urlnotif"], {"idop": idop})] * 3
    assert len(state.notifications_for(idop)) == 3


async def test_delayed_notification(
    client: httpx.AsyncClient, state: SimulatorState, notifier: RecordingNotifier
) -> None:
    state.notification_delay = 0.2
    idop = await create_idop(client)
    response = await client.post(
        f"{PAGE}/carte", data={"idop": idop, "numero_carte": ACCEPTED_CARD}
    )
    assert response.status_code == 303
    assert notifier.calls == []
    await asyncio.wait_for(state.wait_notifications(), timeout=5)
    assert notifier.calls == [(VALID_REQUEST["urlnotif"], {"idop": idop})]
    (record,) = state.notification_log
    assert record.sent_at > state.operations[idop].created_at


async def test_notification_field_names(
    client: httpx.AsyncClient, state: SimulatorState, notifier: RecordingNotifier
) -> None:
    state.notification_field = "idOp"
    idop = await create_idop(client)
    await client.post(f"{PAGE}/annulation", data={"idop": idop})
    assert notifier.calls[-1][1] == {"idOp": idop}

    state.configure(notification_field="alternate", notifications="duplicate", duplicates=4)
    idop = await create_idop(client)
    await client.post(f"{PAGE}/annulation", data={"idop": idop})
    fields = [next(iter(body)) for _, body in notifier.calls[1:]]
    assert sorted(fields) == ["idOp", "idOp", "idop", "idop"]


async def test_a_failing_notification_does_not_break_the_page(client: httpx.AsyncClient) -> None:
    async def broken(url: str, body: dict[str, str]) -> None:
        raise httpx.ConnectError("portal down")

    state = SimulatorState(notify=broken)
    transport = httpx.ASGITransport(app=create_simulator_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as other:
        idop = await create_idop(other)
        response = await other.post(
            f"{PAGE}/carte", data={"idop": idop, "numero_carte": ACCEPTED_CARD}
        )
        assert response.status_code == 303
        (record,) = state.notification_log
        assert record.error is not None
        assert "portal down" in record.error


async def test_notification_into_an_in_process_app() -> None:
    """asgi_notifier delivers a form-encoded POST, as the real service does."""
    received: list[tuple[str, str, dict[str, str]]] = []

    @post("/paiement/notification", status_code=200)
    async def notification(request: Request) -> str:  # type: ignore[type-arg]
        form = await request.form()
        received.append((request.headers["content-type"], request.url.path, dict(form)))
        return ""

    portal = Litestar([notification])
    state = SimulatorState(notify=asgi_notifier(portal))
    transport = httpx.ASGITransport(app=create_simulator_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as sim:
        idop = await create_idop(sim, urlnotif="http://portail.test/paiement/notification")
        await sim.post(f"{PAGE}/carte", data={"idop": idop, "numero_carte": ACCEPTED_CARD})
    assert received == [
        ("application/x-www-form-urlencoded", "/paiement/notification", {"idop": idop})
    ]
    assert state.notification_log[0].error is None
