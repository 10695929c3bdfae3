"""The legacy TIPI page (`paiement.web`): validation, and the fields sent back to urlcl."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from simulators.payfip import ACCEPTED_CARD, REFUSED_CARD, SimulatorState
from tests.simulator.helpers import forms

PAGE = "/tpa/paiement.web"
PARAMS = {
    "numcli": "004200",
    "exer": "2021",
    "refdet": "X9900301010000001317",
    "objet": "Restauration scolaire",
    "montant": "24311",
    "mel": "support@example.fr",
    "urlcl": "https://portail.example/tipi/retour",
    "saisie": "T",
}


async def open_page(client: httpx.AsyncClient, **overrides: str) -> str:
    """The page's session token, after checking the page."""
    response = await client.get(PAGE, params={**PARAMS, **overrides})
    assert response.status_code == 200, response.text
    card_form = forms(response.text)[0]
    assert card_form["action"] == f"{PAGE}/carte"
    fields = card_form["fields"]
    assert isinstance(fields, dict)
    return str(fields["session"])


async def test_page(client: httpx.AsyncClient) -> None:
    response = await client.get(PAGE, params=PARAMS)
    page = response.text
    assert "Bienvenue sur la solution de paiement de la DGFIP" in page
    assert "Attention il s'agit d'un paiement de test." in page
    assert "243,11 €" in page
    assert "X9900301010000001317" in page
    assert "support@example.fr" in page
    assert ">Payer par carte bancaire</button>" in page
    assert ">Annuler</button>" in page
    assert "prélèvement" not in page.lower()
    assert [form["action"] for form in forms(page)] == [f"{PAGE}/carte", f"{PAGE}/annulation"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"numcli": "4200"}, "numéro de client (numcli) doit comporter 6 chiffres"),
        ({"exer": "20211"}, "exercice (exer)"),
        ({"refdet": "ABCD"}, "référence de la dette (refdet)"),
        ({"refdet": "ABC DEF"}, "référence de la dette (refdet)"),
        ({"montant": "243.11"}, "nombre entier de centimes"),
        ({"montant": "99"}, "au moins 1,00 €"),
        ({"montant": "10000000"}, "dépasse le maximum"),
        ({"mel": "support.example.fr"}, "adresse électronique (mel)"),
        ({"urlcl": "portail.example/retour"}, "adresse de retour (urlcl)"),
        ({"saisie": "W"}, "mode de saisie (saisie)"),
    ],
)
async def test_validation_errors(
    client: httpx.AsyncClient, overrides: dict[str, str], message: str
) -> None:
    response = await client.get(PAGE, params={**PARAMS, **overrides})
    assert response.status_code == 400
    assert "Demande de paiement incorrecte" in response.text
    assert message in response.text
    assert "numero_carte" not in response.text


async def test_every_problem_is_listed(client: httpx.AsyncClient) -> None:
    response = await client.get(PAGE)
    assert response.status_code == 400
    assert len(re.findall(r"<li>", response.text)) == 6  # numcli refdet montant mel urlcl saisie


async def test_unknown_client(client: httpx.AsyncClient, state: SimulatorState) -> None:
    state.known_numcli = {"123456"}
    response = await client.get(PAGE, params=PARAMS)
    assert response.status_code == 400
    assert "n'est pas connu" in html.unescape(response.text)


async def test_optional_exer_and_objet(client: httpx.AsyncClient) -> None:
    await open_page(client, exer="", objet="")


@pytest.mark.parametrize("saisie", ["X", "A", "M"])
async def test_other_saisies_show_no_test_warning(client: httpx.AsyncClient, saisie: str) -> None:
    response = await client.get(PAGE, params={**PARAMS, "saisie": saisie})
    assert response.status_code == 200
    assert "paiement de test" not in response.text


def assert_common_fields(fields: dict[str, str], resultrans: str) -> None:
    for name in ("numcli", "exer", "refdet", "objet", "montant", "mel", "saisie"):
        assert fields[name] == PARAMS[name]
    assert fields["resultrans"] == resultrans
    assert re.fullmatch(r"\d{8}", fields["dattrans"])
    assert re.fullmatch(r"\d{4}", fields["heurtrans"])
    if resultrans == "P":
        assert re.fullmatch(r"\d{8}", fields["numauto"])
    else:
        assert "numauto" not in fields


@pytest.mark.parametrize(
    ("path", "data", "resultrans"),
    [
        ("carte", {"numero_carte": "4242-4242-4242-4242"}, "P"),
        ("carte", {"numero_carte": REFUSED_CARD}, "R"),
        ("annulation", {}, "A"),
    ],
)
async def test_return_by_post_form(
    client: httpx.AsyncClient, path: str, data: dict[str, str], resultrans: str
) -> None:
    session = await open_page(client)
    response = await client.post(f"{PAGE}/{path}", data={"session": session, **data})
    assert response.status_code == 200
    (form,) = forms(response.text)
    assert form["action"] == PARAMS["urlcl"]
    assert form["method"] == "post"
    fields = form["fields"]
    assert isinstance(fields, dict)
    assert_common_fields(fields, resultrans)
    assert list(fields)[:8] == [
        "numcli",
        "exer",
        "refdet",
        "objet",
        "montant",
        "mel",
        "saisie",
        "resultrans",
    ]
    assert ">Retour au site</button>" in response.text


@pytest.mark.parametrize(
    ("path", "data", "resultrans"),
    [
        ("carte", {"numero_carte": ACCEPTED_CARD}, "P"),
        ("carte", {"numero_carte": REFUSED_CARD}, "R"),
        ("annulation", {}, "A"),
    ],
)
async def test_return_by_get_redirect(
    client: httpx.AsyncClient,
    state: SimulatorState,
    path: str,
    data: dict[str, str],
    resultrans: str,
) -> None:
    state.tipi_return_method = "GET"
    session = await open_page(client, urlcl="https://portail.example/tipi/retour?c=sistec")
    response = await client.post(f"{PAGE}/{path}", data={"session": session, **data})
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "portail.example",
        "/tipi/retour",
    )
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query.pop("c") == "sistec"
    assert_common_fields(query, resultrans)


async def test_unknown_card_and_finished_session(client: httpx.AsyncClient) -> None:
    session = await open_page(client)
    response = await client.post(f"{PAGE}/carte", data={"session": session, "numero_carte": "1111"})
    assert response.status_code == 400
    assert "pas reconnu" in response.text
    await client.post(f"{PAGE}/annulation", data={"session": session})
    again = await client.post(
        f"{PAGE}/carte", data={"session": session, "numero_carte": ACCEPTED_CARD}
    )
    assert again.status_code == 409
    assert "Cette opération est terminée" in again.text
    unknown = await client.post(f"{PAGE}/annulation", data={"session": "nope"})
    assert unknown.status_code == 404


async def test_tipi_sessions_are_not_idops(client: httpx.AsyncClient) -> None:
    session = await open_page(client)
    response = await client.get("/tpa/paiementws.web", params={"idop": session})
    assert response.status_code == 404
