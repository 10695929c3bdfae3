"""Every object, across boundaries: each parents' route that names an object by id (invoice,
its PDF, payment, receipt, alert address, a plugin's per-invoice page...), found in the app's
route table, asked with the owner's ids by another payer of the same commune and by a parent of
another commune: 404, and none of the owner's data (invoice number, amount, marker) in the body;
a write changes nothing. The owner's own request proves the ids are real.

The back office's routes are walked across communes by `backoffice/test_route_walk.py`.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from litestar import Litestar

from core.config import PortalConfig, parse_config
from tests.integration.conftest import CONFIG, Portal
from tests.integration.people import (
    STATE_CHANGING,
    Endpoint,
    Person,
    app_endpoints,
    browsers,
    own_objects,
    sign_in_parent,
)
from tests.integration.test_app_route_walk import PARENT_PARAMETERS, table_digests

OWNER_AMOUNT = "987,65"  # own_objects' amounts: 98765 cents


@pytest.fixture
def portal_config() -> PortalConfig:
    """Aure pays a "PERI" régie through TIPI (whose plugin has per-invoice pages)."""
    raw = copy.deepcopy(CONFIG)
    raw["communes"][1]["regies"] = [
        {"code": "PERI", "name": "Périscolaire", "client_number": "004201"}
    ]
    return parse_config(raw)


def identifier_endpoints(app: Litestar) -> list[Endpoint]:
    """The parents' routes (not the back office's) with a parameter naming an object."""
    return [
        e
        for e in app_endpoints(app)
        if not e.backoffice and any(name in PARENT_PARAMETERS for name, _ in e.parameters)
    ]


def url_for(endpoint: Endpoint, slug: str, objects: dict[str, Any]) -> str:
    def fill(name: str, kind: str) -> str:
        if name == "slug":
            return slug
        assert name in PARENT_PARAMETERS, f"{endpoint.path}: add {name!r} to PARENT_PARAMETERS"
        return str(objects[PARENT_PARAMETERS[name]])

    return endpoint.url(fill)


def leaks(response: httpx.Response, marker: str) -> bool:
    text = response.text.lower()
    return marker in text or OWNER_AMOUNT in response.text


async def test_no_object_is_reachable_by_another_payer_or_commune(
    app: Litestar, portal: Portal
) -> None:
    endpoints = identifier_endpoints(app)
    assert {"invoice_id", "refdet", "address_id"} <= {
        name for e in endpoints for name, _ in e.parameters
    }
    async with browsers(app) as browser:
        people: dict[str, Person] = {}
        owned: dict[str, dict[str, Any]] = {}
        for name, slug, ref in (
            ("claire", "boe", "ZB1"),
            ("nina", "boe", "ZB2"),
            ("jean", "aure", "ZA1"),
            ("lea", "aure", "ZA2"),
        ):
            person = browser(name, slug)
            email = f"{name}.zq@example.org"
            payer = await sign_in_parent(portal, person, email, ref, f"Famille {name}")
            owned[name] = await own_objects(slug, payer, email, f"zq{name}")
            people[name] = person
        # An owner, the other payer of the same commune, a parent of the other commune.
        cases = (("claire", "nina", "jean"), ("jean", "lea", "claire"))
        problems: list[str] = []
        covered: set[str] = set()
        for owner_name, neighbour_name, stranger_name in cases:
            owner, objects = people[owner_name], owned[owner_name]
            assert owner.slug is not None
            marker = f"zq{owner_name}"
            for endpoint in endpoints:
                url = url_for(endpoint, owner.slug, objects)
                if endpoint.method == "GET":
                    mine = await owner.send("GET", url)
                    if mine.status_code == 404:
                        continue  # a plugin off in this commune: no object to protect here
                    assert mine.status_code == 200, (owner_name, url, mine.status_code)
                covered.add(f"{endpoint.method} {endpoint.path}")
                before = await table_digests()
                stranger = people[stranger_name]
                assert stranger.slug is not None
                tries = (
                    (people[neighbour_name], url),
                    (stranger, url),  # its cookies are for its own commune: a visitor here
                    (stranger, url_for(endpoint, stranger.slug, objects)),
                )
                for other, other_url in tries:
                    response = await other.send(endpoint.method, other_url)
                    label = f"{other.name}: {endpoint.method} {other_url} ({owner_name}'s)"
                    if leaks(response, marker):
                        problems.append(f"{label} shows {owner_name}'s data")
                    expected = 404 if other_url.startswith(f"/{other.slug}/") else None
                    if expected and response.status_code != expected:
                        problems.append(f"{label} -> {response.status_code}, expected 404")
                    if response.status_code < 300 and expected is None:
                        problems.append(f"{label} -> {response.status_code} without a session")
                if endpoint.method in STATE_CHANGING and await table_digests() != before:
                    problems.append(f"{endpoint.method} {endpoint.path}: others changed rows")
        uncovered = {f"{e.method} {e.path}" for e in endpoints} - covered
        assert not uncovered, f"no owner could use {uncovered}: seed an owner where it runs"
        assert not problems, "\n".join(problems)
