"""Fuzzing with Hypothesis: every form the app's pages carry (the parents', the sign-in and link
pages', the back office's, found by reading the pages), the CSV import, the PayFiP notification
and return, the TIPI return. Never a 5xx; nothing malformed stored; no typed text shown as
markup on the pages another person reads. Bounded: derandomized, `FUZZ`'s example counts, one
database per test (the examples of a test share it, as a running portal would)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar import Litestar

from core.accounts.tables import Payer
from core.communes.tables import Commune
from core.config import PortalConfig
from core.contact.tables import ContactMessage
from core.invoices.importer import run_import
from core.invoices.tables import Invoice
from core.payments.tables import PaymentAttempt
from core.plugins import get_plugin_manager
from core.security.tables import Throttle
from core.settings import Settings
from core.web.templates import build_jinja_env
from simulators.payfip import RunningSimulator
from tests.integration.conftest import GOOD_PASSWORD, Portal, add_payer
from tests.integration.fuzzing import (
    FUZZ,
    ODD_TEXT,
    PAYLOADS,
    Form,
    field_values,
    forms_of,
    stored_problems,
    unescaped,
)
from tests.integration.people import Person, app_endpoints, page_token
from tests.integration.test_app_route_walk import filler, people, table_digests
from tests.integration.test_import import DEFAULTS, HEADER, row
from tests.integration.test_payments import payment_config, simulator

__all__ = ["people", "simulator"]  # fixtures used here

# Pages where what one person typed is shown to another: parents' and agents' lists.
VIEWER_PAGES = {
    "agent": (
        "/boe/gestion/",
        "/boe/gestion/messages",
        "/boe/gestion/familles",
        "/boe/gestion/actualites",
        "/boe/gestion/journal",
    ),
    "claire": ("/boe/", "/boe/mes-informations", "/boe/factures"),
}
CLAIRE = "claire.zqwalk@example.org"  # the walk's parent
# Forms whose success ends the session the fuzzing goes on with.
SESSION_ENDING = ("deconnexion", "sessions/fermer")  # logout, "Se déconnecter partout"


@pytest.fixture
def portal_config(simulator: RunningSimulator) -> PortalConfig:
    """Boé pays through the PayFiP simulator on loopback (never the real service)."""
    return payment_config(simulator)


@dataclasses.dataclass
class FuzzTarget:
    form: Form
    person: Person


@pytest.fixture
async def targets(app: Litestar, portal: Portal, people: dict[str, Any]) -> list[FuzzTarget]:
    """Every form of every page the walk's people can open, and the forms behind real links
    (reset, e-mail change), each with the person who would fill it in."""
    url = filler(people["objects"], people["backoffice_ids"])
    claire, agent, visitor = people["claire"], people["agent"], people["visitor"]
    pages: list[tuple[Person, str]] = []
    for endpoint in (e for e in app_endpoints(app) if e.method == "GET"):
        pages.append((agent if endpoint.backoffice else claire, url(endpoint)))
        if not endpoint.backoffice:
            pages.append((visitor, url(endpoint)))
    pages += await link_pages(portal, people)
    found: dict[tuple[str, Form], FuzzTarget] = {}
    for person, path in pages:
        response = await person.send("GET", path)
        for form in forms_of(response.text):
            action = form.action or path
            if not action.startswith("/") or any(word in action for word in SESSION_ENDING):
                continue
            form = dataclasses.replace(form, action=action)
            found.setdefault((person.name, form), FuzzTarget(form, person))
    actions = {target.form.action for target in found.values()}
    for link in ("/boe/activation/", "/boe/mot-de-passe/", "/boe/adresse/", "/boe/alerte/"):
        assert any(action.startswith(link) for action in actions), f"no form at {link}"
    assert len(found) >= 15, sorted(actions)
    return list(found.values())


async def link_pages(portal: Portal, people: dict[str, Any]) -> list[tuple[Person, str]]:
    """The pages behind real e-mail links, whose forms only a link opens: activation, password
    reset, e-mail change, alert address confirmation."""
    claire, visitor = people["claire"], people["visitor"]
    await add_payer("boe", "ZQNEW", "Famille Zqnew", "nouveau.zq@example.org")
    await visitor.send("POST", "/boe/activation", {"email": "nouveau.zq@example.org"})
    await visitor.send("POST", "/boe/mot-de-passe-oublie", {"email": CLAIRE})
    change = {"new_email": "claire.nouvelle@example.org", "password": GOOD_PASSWORD}
    await claire.send("POST", "/boe/mes-informations/adresse", change)
    await claire.send(
        "POST", "/boe/mes-informations/alertes", {"alert_email": "papa.zq@example.org"}
    )
    return [
        (visitor, await portal.link_in_mail("nouveau.zq@example.org")),
        (visitor, await portal.link_in_mail(CLAIRE, "passe")),
        (claire, await portal.link_in_mail("claire.nouvelle@example.org")),
        (visitor, await portal.link_in_mail("papa.zq@example.org")),
    ]


async def submit(target: FuzzTarget, values: dict[str, str]) -> Any:
    client = target.person.client
    if target.form.method == "GET":
        return await client.get(target.form.action, params=values, follow_redirects=False)
    token = target.person.csrf or await page_token(target.person, target.form.action)
    return await client.post(
        target.form.action,
        data={**values, "_csrf_token": token},
        follow_redirects=False,
    )


@settings(FUZZ, max_examples=8)  # each example submits every form (about 50) once
@given(data=st.data())
async def test_every_form(
    targets: list[FuzzTarget], people: dict[str, Any], data: st.DataObject
) -> None:
    """Each example fills every form once; then the stored rows and the pages others read
    are checked."""
    sent: list[str] = []
    for target in targets:
        values = {name: data.draw(field_values(list(known))) for name, known in target.form.fields}
        await Throttle.delete(force=True)  # limits would hide the form's own checks
        response = await submit(target, values)
        label = f"{target.person.name}: {target.form.method} {target.form.action} {values}"
        assert response.status_code < 500, label
        sent += values.values()
    assert not await stored_problems()
    newest = await ContactMessage.select(ContactMessage.id).order_by(
        ContactMessage.id, ascending=False
    )
    message = f"/boe/gestion/messages/{newest[0]['id']}"  # a message shows whole there
    for name, paths in {**VIEWER_PAGES, "agent": (*VIEWER_PAGES["agent"], message)}.items():
        for path in paths:
            page = await people[name].send("GET", path)
            assert page.status_code == 200, (path, page.status_code)
            assert not unescaped(page.text, sent), f"{path} shows typed markup"


# --- The CSV import ---------------------------------------------------------------------------

CSV_TEXT = st.one_of(
    # NUL characters included: the import reports them as "ligne illisible" (docs/import.md).
    st.sampled_from([*PAYLOADS, *ODD_TEXT]),
    st.text(max_size=40),
)


@pytest.fixture
def env(settings: Settings) -> jinja2.Environment:
    return build_jinja_env(settings, get_plugin_manager())


@FUZZ
@given(
    lines=st.lists(
        st.dictionaries(st.sampled_from(sorted(DEFAULTS)), CSV_TEXT, max_size=4),
        min_size=1,
        max_size=4,
    ),
    header=st.sampled_from([HEADER, HEADER.upper(), HEADER.replace(";", ","), ""]),
)
async def test_the_csv_import(
    portal: Portal,
    env: jinja2.Environment,
    tmp_path: Path,
    lines: list[dict[str, str]],
    header: str,
) -> None:
    """Lines of a valid file with some fields replaced: either refused with its errors and
    nothing written, or written well-formed; never an exception."""
    commune = await Commune.select(Commune.id).where(Commune.slug == "boe").first()
    assert commune is not None
    text = "\n".join([header, *(row(**line) for line in lines)]) + "\n"
    before = await table_digests()
    counts = (await Invoice.count(), await Payer.count())
    report = await run_import(
        commune["id"], text, pdfs=None, data_dir=tmp_path, env=env, base_url="http://portail.test"
    )
    if report.errors:
        assert await table_digests() == before, report.errors
        assert all(e.line >= 1 and e.message for e in report.errors)
    assert not await stored_problems()
    # The examples share one database: at most one invoice and one payer more per line.
    assert await Invoice.count() - counts[0] <= len(lines)
    assert await Payer.count() - counts[1] <= len(lines)


# --- The payment services' requests -----------------------------------------------------------

SERVICE_FIELDS = ("idop", "idOp", "IDOP", "resultrans", "refdet", "montant", "numcli", "objet")
SERVICE_REQUESTS = (
    ("POST", "/boe/paiement/payfip/notification"),
    ("POST", "/boe/payfip/notification"),
    ("GET", "/boe/paiement/payfip/retour"),
    ("POST", "/boe/paiement/payfip/retour"),
    ("GET", "/boe/payfip/retour"),
    ("POST", "/boe/payfip/retour"),
    ("GET", "/aure/tipi/retour"),
    ("POST", "/aure/tipi/retour"),
    ("GET", "/aure/paiement/tipi_legacy/retour"),
)


@FUZZ
@given(
    request=st.sampled_from(SERVICE_REQUESTS),
    fields=st.dictionaries(
        st.one_of(st.sampled_from(SERVICE_FIELDS), st.text(max_size=10)),
        st.one_of(st.sampled_from([*PAYLOADS, *ODD_TEXT]), st.text(max_size=60)),
        max_size=5,
    ),
)
async def test_the_payment_services_requests(
    portal: Portal, people: dict[str, Any], request: tuple[str, str], fields: dict[str, str]
) -> None:
    """Forged or garbled notifications and returns: never a 5xx, no attempt changed (Claire's
    paid one included), nothing stored."""
    method, path = request
    before = await PaymentAttempt.select().order_by(PaymentAttempt.id)
    await Throttle.delete(force=True)
    if method == "GET":
        response = await portal.client.get(path, params=fields, follow_redirects=False)
    else:
        response = await portal.client.post(path, data=fields, follow_redirects=False)
    assert response.status_code < 500, (method, path, fields)
    assert not unescaped(response.text, list(fields.values()))
    assert await PaymentAttempt.select().order_by(PaymentAttempt.id) == before
    assert not await stored_problems()


async def test_control_characters_typed_in_a_form_are_not_stored(
    people: dict[str, Any],
) -> None:
    """The NUL the form fuzzing found: PostgreSQL refused it (500), SQLite stored it."""
    claire = people["claire"]
    claire.csrf = await page_token(claire, "/boe/contact")
    form = {
        "name": "Claire\x00 Zq\x1b",
        "email": "claire.zqwalk@example.org",
        "message": "A\x00b\nc",
    }
    response = await claire.send("POST", "/boe/contact", form)
    assert response.status_code == 303
    [stored] = await ContactMessage.select(ContactMessage.name, ContactMessage.body).where(
        ContactMessage.email == "claire.zqwalk@example.org"
    )
    assert stored == {"name": "Claire Zq", "body": "Ab\nc"}
