"""TIPI communes' personal note "Marquer la facture comme réglée / non réglée" (plugin
`tipi_legacy`, enabled at Aure only). Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

import copy
import inspect
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar

from core.accounts.tables import Account
from core.app import create_app
from core.communes.context import CommuneContext
from core.config import parse_config
from core.db import Engine
from core.invoices.services import get_invoice, today
from core.invoices.tables import PAID, TO_PAY, Invoice
from core.mail.sink import MailSink
from core.settings import Settings
from core.web.identity import SignedIn
from plugins.tipi_legacy import notes
from plugins.tipi_legacy.tables import InvoiceNote
from tests.integration.conftest import (
    CONFIG,
    GOOD_PASSWORD,
    Portal,
    add_invoice,
    add_payer,
    serve,
)

JEAN = "jean@example.org"
MARK = "Marquer la facture comme réglée"
UNMARK = "Marquer la facture comme non réglée"
NOTICE = (
    "Vous avez noté avoir réglé cette facture le {date} (note personnelle : la facture reste "
    "à régler tant que le service facturation ne l’a pas enregistrée)."
)
PAY = "Payer la facture"


@pytest.fixture
def app(clean_db: Engine, settings: Settings) -> Litestar:
    """Aure pays its "PERI" régie through TIPI; Boé (PayFiP) does not run the plugin."""
    raw = copy.deepcopy(CONFIG)
    raw["communes"][1]["regies"] = [
        {"code": "PERI", "name": "Périscolaire", "client_number": "004201"}
    ]
    return create_app(settings, config=parse_config(raw))


@pytest.fixture
async def portal(app: Litestar, mail_sink: MailSink, settings: Settings) -> AsyncIterator[Portal]:
    mail_sink.clear()
    async with serve(app) as client:
        yield Portal(client=client, sink=mail_sink, settings=settings)


async def sign_in(portal: Portal, slug: str = "aure", email: str = JEAN, ref: str = "A1") -> int:
    """A payer known by `email`, whose parent activates the account (and is then logged in)."""
    payer_id = await add_payer(slug, ref, f"Famille {ref}", email)
    await portal.activate(slug, email)
    return payer_id


def note_path(invoice_id: int, slug: str = "aure") -> str:
    return f"/{slug}/tipi/factures/{invoice_id}/note"


def link(invoice_id: int, label: str) -> str:
    return f'<a class="button button--secondary" href="{note_path(invoice_id)}">{label}</a>'


async def detail(portal: Portal, invoice_id: int, slug: str = "aure") -> str:
    response = await portal.client.get(f"/{slug}/factures/{invoice_id}")
    assert response.status_code == 200
    return response.text


async def test_mark_then_unmark_is_a_personal_note(portal: Portal) -> None:
    payer = await sign_in(portal)
    invoice_id = await add_invoice("aure", payer, "AURE-1", amount=24311)
    page = await detail(portal, invoice_id)
    assert link(invoice_id, MARK) in page
    assert PAY in page

    # The confirmation step says what the note is, and changes nothing.
    confirm = (await portal.client.get(note_path(invoice_id))).text
    assert f"<h1>{MARK}</h1>" in confirm
    assert "C’est une note personnelle." in confirm
    assert "La facture reste « à régler » sur le portail" in confirm
    assert 'name="paid" value="1"' in confirm
    assert f'<button type="submit" class="button">{MARK}</button>' in confirm
    assert f'href="/aure/factures/{invoice_id}">Annuler</a>' in confirm
    assert await InvoiceNote.count() == 0

    response = await portal.post_form(note_path(invoice_id), {"paid": "1"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/aure/factures/{invoice_id}"
    page = await detail(portal, invoice_id)
    assert NOTICE.format(date=today().strftime("%d/%m/%Y")) in page
    assert link(invoice_id, UNMARK) in page and MARK not in page
    assert PAY in page  # information only: online payment is still offered

    # The invoice itself did not change: still in "À régler", same amounts.
    row = await Invoice.select().where(Invoice.id == invoice_id).first()
    assert (row["status"], row["amount_cents"], row["paid_cents"]) == (TO_PAY, 24311, 0)
    to_pay = (await portal.client.get("/aure/factures")).text
    assert "AURE-1" in to_pay and "243,11" in to_pay
    assert "AURE-1" not in (await portal.client.get("/aure/factures/reglees")).text

    # A second submission keeps the one note.
    await portal.post_form(note_path(invoice_id), {"paid": "1"})
    assert await InvoiceNote.count() == 1

    # The way back, the same way.
    confirm = (await portal.client.get(note_path(invoice_id))).text
    assert f"<h1>{UNMARK}</h1>" in confirm
    assert f"Vous avez noté avoir réglé cette facture le {today():%d/%m/%Y}." in confirm
    assert 'name="paid" value="0"' in confirm
    response = await portal.post_form(note_path(invoice_id), {"paid": "0"})
    assert response.headers["location"] == f"/aure/factures/{invoice_id}"
    page = await detail(portal, invoice_id)
    assert "Vous avez noté" not in page and link(invoice_id, MARK) in page
    assert await InvoiceNote.count() == 0

    # Anything else than 0 or 1 goes back to the confirmation step.
    response = await portal.post_form(note_path(invoice_id), {"paid": "oui"})
    assert response.status_code == 303 and response.headers["location"] == note_path(invoice_id)


async def test_the_import_has_the_last_word(portal: Portal) -> None:
    payer = await sign_in(portal)
    invoice_id = await add_invoice("aure", payer, "AURE-2")
    await portal.post_form(note_path(invoice_id), {"paid": "1"})
    await Invoice.update({Invoice.status: PAID, Invoice.paid_cents: 24311}).where(
        Invoice.id == invoice_id
    )
    page = await detail(portal, invoice_id)
    assert "Vous avez noté" not in page and "non réglée" not in page

    # Removing a note stays possible; adding one to a paid invoice does nothing.
    await portal.post_form(note_path(invoice_id), {"paid": "0"}, form_page="/aure/factures")
    assert await InvoiceNote.count() == 0
    response = await portal.post_form(
        note_path(invoice_id), {"paid": "1"}, form_page="/aure/factures"
    )
    assert response.headers["location"] == f"/aure/factures/{invoice_id}"
    assert await InvoiceNote.count() == 0


async def test_no_link_on_a_paid_or_direct_debit_invoice(portal: Portal) -> None:
    payer = await sign_in(portal)
    paid = await add_invoice("aure", payer, "AURE-PAID", status=PAID, paid=24311)
    debit = await add_invoice("aure", payer, "AURE-DEBIT", direct_debit=True)
    for invoice_id in (paid, debit):
        page = await detail(portal, invoice_id)
        assert note_path(invoice_id) not in page and MARK not in page
        response = await portal.client.get(note_path(invoice_id), follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/aure/factures/{invoice_id}"


async def test_another_accounts_invoice_is_not_found(portal: Portal) -> None:
    other_payer = await sign_in(portal, email="autre@example.org", ref="A2")
    others = await add_invoice("aure", other_payer, "AURE-OTHER")
    portal.client.cookies.clear()
    await sign_in(portal)
    assert (await portal.client.get(note_path(others))).status_code == 404
    response = await portal.post_form(note_path(others), {"paid": "1"}, form_page="/aure/factures")
    assert response.status_code == 404
    assert (await portal.client.get(note_path(2**40))).status_code == 404
    assert await InvoiceNote.count() == 0


async def test_not_found_where_the_plugin_is_off(portal: Portal) -> None:
    payer = await sign_in(portal, "boe", ref="B1")
    invoice_id = await add_invoice("boe", payer, "BOE-1")
    page = await detail(portal, invoice_id, "boe")
    assert "tipi/factures" not in page and MARK not in page
    assert (await portal.client.get(note_path(invoice_id, "boe"))).status_code == 404
    response = await portal.post_form(
        note_path(invoice_id, "boe"), {"paid": "1"}, form_page="/boe/factures"
    )
    assert response.status_code == 404
    assert await InvoiceNote.count() == 0


async def test_changes_need_the_csrf_token_and_a_login(portal: Portal) -> None:
    payer = await sign_in(portal)
    invoice_id = await add_invoice("aure", payer, "AURE-3")
    response = await portal.client.post(
        note_path(invoice_id), data={"paid": "1"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert await InvoiceNote.count() == 0

    portal.client.cookies.clear()
    response = await portal.client.get(note_path(invoice_id), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/aure/connexion"


async def test_hook_invoice_actions_per_account(app: Litestar, portal: Portal) -> None:
    payer = await sign_in(portal)
    invoice_id = await add_invoice("aure", payer, "AURE-4")
    await portal.post_form(note_path(invoice_id), {"paid": "1"})
    row = await Account.select(Account.id).where(Account.email == JEAN).first()
    aure: CommuneContext = app.state.portal.communes["aure"]
    invoice = await get_invoice(aure.id, row["id"], invoice_id)
    assert invoice is not None

    async def labels(account_id: int) -> list[str]:
        account = SignedIn(account_id=account_id, email=JEAN, session_hash="", persistent=False)
        groups = aure.hooks.invoice_actions(commune=aure, invoice=invoice, account=account)
        # The note's implementation returns a coroutine (it reads the database).
        resolved = [await g if inspect.isawaitable(g) else g for g in groups]
        return [action.label for group in resolved for action in group]

    notice = NOTICE.format(date=f"{today():%d/%m/%Y}")
    mine = await labels(row["id"])
    assert notice in mine and UNMARK in mine
    # The note is the account's own: another account seeing the invoice has none.
    theirs = await labels(row["id"] + 1)
    assert notice not in theirs and MARK in theirs

    await Invoice.delete().where(Invoice.id == invoice_id)
    assert await InvoiceNote.count() == 0  # the note goes with its invoice


async def test_notes_are_in_the_data_export_and_go_with_the_account(portal: Portal) -> None:
    payer_id = await sign_in(portal)
    invoice_id = await add_invoice("aure", payer_id, "AURE-7")
    account = await Account.select(Account.id).where(Account.email == JEAN).first()
    assert await notes.mark(account["id"], invoice_id)

    data = (await portal.client.get("/aure/mes-informations/mes-donnees.json")).json()
    assert data["tipi_legacy_notes"] == [
        {"invoice": "AURE-7", "marked_paid_on": today().isoformat()}
    ]
    page = (await portal.client.get("/aure/mes-informations/mes-donnees")).text
    assert ">Factures notées comme réglées</h2>" in page and "AURE-7" in page

    response = await portal.post_form(
        "/aure/mes-informations/supprimer", {"password": GOOD_PASSWORD}
    )
    assert response.status_code == 303
    assert await InvoiceNote.count() == 0
    assert await Invoice.count().where(Invoice.id == invoice_id) == 1
