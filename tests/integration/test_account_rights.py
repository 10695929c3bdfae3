"""The parent's rights in "Mes informations": "Télécharger mes données" (the page and the JSON
file, every section, no secret) and "Supprimer mon compte" (password, one transaction, what
goes and what stays, the e-mails, signed out, activation again). And the two hooks."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from litestar import Litestar

from core.account_rights import export
from core.accounts.tables import Account, AccountPayer, AccountToken, WebSession
from core.alert_addresses.tables import AlertAddress
from core.app import create_app
from core.config import PortalConfig
from core.contact.tables import ContactMessage
from core.db import Engine, current_engine
from core.hookspecs import ExportColumn, ExportSection, hookimpl
from core.invoices.tables import Invoice
from core.mail.sink import MailSink
from core.mail.tables import OutboundEmail
from core.payments.tables import PaymentAttempt
from core.settings import Settings
from plugins.paper_optout.tables import PaperPreference
from tests.integration.backoffice.payment_rows import add_attempt
from tests.integration.conftest import (
    GOOD_PASSWORD,
    Portal,
    SecurityLog,
    add_invoice,
    add_payer,
    serve,
    sign_in,
)

CLAIRE = "claire@example.org"
DATA_PAGE = "/boe/mes-informations/mes-donnees"
DATA_FILE = "/boe/mes-informations/mes-donnees.json"
DELETE_PAGE = "/boe/mes-informations/supprimer"
HEX_SECRET = re.compile(r"\b[0-9a-f]{64}\b")


async def furnished_account(portal: Portal) -> dict[str, Any]:
    """Claire, signed in, with something in every section: an invoice, a payment, a contact
    message, an alert address, a paper choice, e-mails sent."""
    payer_id = await sign_in(portal, email=CLAIRE, ref="P1")
    account = await Account.select(Account.id).where(Account.email == CLAIRE).first()
    invoice_id = await add_invoice("boe", payer_id, "F-2026-0042", amount=24311)
    attempt_id = await add_attempt("boe", [invoice_id], email=CLAIRE)
    await PaymentAttempt.update({PaymentAttempt.account: account["id"]}).where(
        PaymentAttempt.id == attempt_id
    )
    contact = {"name": "Claire Martin", "email": CLAIRE, "message": "La cantine de mars ?"}
    assert (await portal.post_form("/boe/contact", contact)).status_code == 303
    alert = {"alert_email": "papa@example.org"}
    response = await portal.post_form(
        "/boe/mes-informations/alertes", alert, form_page="/boe/mes-informations"
    )
    assert response.status_code == 303
    assert (await portal.post_form("/boe/papier", {"paper_optout": "1"})).status_code == 303
    return {"account_id": account["id"], "invoice_id": invoice_id, "attempt_id": attempt_id}


async def secrets_of(account_id: int) -> list[str]:
    """Every hash the database keeps for the account: none may appear in an export."""
    password = await Account.select(Account.password_hash).where(Account.id == account_id)
    sessions = await WebSession.select(WebSession.id_hash).where(WebSession.account == account_id)
    tokens = await AccountToken.select(AccountToken.token_hash).where(
        AccountToken.account == account_id
    )
    alerts = await AlertAddress.select(AlertAddress.token_hash).where(
        AlertAddress.account == account_id
    )
    found = [
        *(r["password_hash"] for r in password),
        *(r["id_hash"] for r in sessions),
        *(r["token_hash"] for r in tokens),
        *(r["token_hash"] for r in alerts if r["token_hash"]),
    ]
    assert len(found) >= 4, found  # a password, a session, the activation token, an alert link
    return found


# --- Télécharger mes données ------------------------------------------------------------------


async def test_the_data_page_shows_every_section_and_no_secret(portal: Portal) -> None:
    furnished = await furnished_account(portal)
    settings_page = (await portal.client.get("/boe/mes-informations")).text
    assert f'href="{DATA_PAGE}"' in settings_page and f'href="{DELETE_PAGE}"' in settings_page

    response = await portal.client.get(DATA_PAGE)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "<title>Mes données – Ville de Boé</title>" in page
    for title in (
        "Mon compte",
        "Débiteurs rattachés au compte",
        "Adresses de messagerie connues du service facturation",
        "Adresses prévenues des nouvelles factures",
        "Factures",
        "Paiements en ligne",
        "Messages envoyés au service",
        "Connexions ouvertes",
        "Messages électroniques envoyés par le portail",
        "Factures au format papier",
    ):
        assert f">{title}</h2>" in page, title
    assert "F-2026-0042" in page and "243,11\u00a0€" in page and "Cantine" in page
    assert "Famille P1" in page and "P1" in page and "papa@example.org" in page
    assert "La cantine de mars ?" in page and "Paiement accepté" in page
    assert "Accès au portail des factures" in page  # the activation e-mail's subject
    assert f'href="{DATA_FILE}"' in page
    for secret in await secrets_of(furnished["account_id"]):
        assert secret not in page


async def test_the_data_file_is_an_attachment_with_every_section_and_no_secret(
    portal: Portal,
) -> None:
    furnished = await furnished_account(portal)
    await portal.deliver()
    response = await portal.client.get(DATA_FILE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(
        r'attachment; filename="mes-donnees-boe-\d{4}-\d{2}-\d{2}.json"', disposition
    )
    for secret in await secrets_of(furnished["account_id"]):
        assert secret not in response.text
    assert not HEX_SECRET.search(response.text)

    data = json.loads(response.text)
    assert data["portail"]["commune"] == "Ville de Boé"
    assert data["account"]["email"] == CLAIRE and data["account"]["state"] == "Actif"
    assert "password_hash" not in json.dumps(data)
    assert data["payers"] == [{"payer_name": "Famille P1", "payer_ref": "P1"}]
    assert data["payer_addresses"] == [
        {"payer_name": "Famille P1", "payer_ref": "P1", "email": CLAIRE}
    ]
    (alert,) = data["alert_addresses"]
    assert alert["email"] == "papa@example.org" and alert["confirmed"] is False
    (invoice,) = data["invoices"]
    assert invoice["number"] == "F-2026-0042" and invoice["amount_cents"] == 24311
    assert invoice["regie"] == "Cantine" and invoice["status"] == "À régler"
    assert dt.date.fromisoformat(invoice["issued_on"]) == dt.date(2026, 1, 10)
    (payment,) = data["payments"]
    attempt = await PaymentAttempt.select().where(PaymentAttempt.id == furnished["attempt_id"])
    assert payment["provider_reference"] == attempt[0]["provider_reference"]
    assert payment["refdet"] == attempt[0]["refdet"] and payment["amount_cents"] == 24311
    assert "detail" not in payment
    (message,) = data["contact_messages"]
    assert message["body"] == "La cantine de mars ?"
    (session,) = data["sessions"]
    assert set(session) == {
        "created_at",
        "last_seen_at",
        "expires_at",
        "persistent",
        "user_agent",
    }
    assert dt.datetime.fromisoformat(session["expires_at"]) > dt.datetime.now(dt.UTC)
    subjects = {(m["recipient"], m["subject"]) for m in data["emails"]}
    assert any(recipient == "papa@example.org" for recipient, _ in subjects)
    assert any(recipient == CLAIRE for recipient, _ in subjects)
    assert all(
        set(m) == {"created_at", "sent_at", "recipient", "subject", "status"}
        for m in data["emails"]
    )
    # Only the account's own mail: not the billing service's copy of the paper request.
    assert all(m["recipient"] in {CLAIRE, "papa@example.org"} for m in data["emails"])
    assert data["paper_optout"]["paper_optout"] is True
    assert dt.datetime.fromisoformat(data["paper_optout"]["changed_at"])


async def test_the_data_is_the_accounts_own(portal: Portal) -> None:
    """Another parent's invoices, payments and messages never show."""
    other_payer = await add_payer("boe", "P2", "Famille P2", "paul@example.org")
    await add_invoice("boe", other_payer, "F-AUTRE-1")
    await sign_in(portal, email=CLAIRE, ref="P1")
    data = (await portal.client.get(DATA_FILE)).json()
    assert data["invoices"] == [] and data["payments"] == []
    assert data["paper_optout"] is None  # never chose: paper, the default, is not data
    assert "F-AUTRE-1" not in (await portal.client.get(DATA_PAGE)).text


async def test_long_lists_page_and_file(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page shows the newest rows and says so; the file reads them all, in batches."""
    monkeypatch.setattr(export, "PAGE_ROWS", 3)
    monkeypatch.setattr(export, "BATCH", 2)
    payer_id = await sign_in(portal)
    for n in range(7):
        await add_invoice("boe", payer_id, f"F-{n}")
    page = (await portal.client.get(DATA_PAGE)).text
    assert "Seules les 3 plus récentes sont affichées ici" in page
    assert "F-6" in page and "F-4" in page and "F-3" not in page
    numbers = [i["number"] for i in (await portal.client.get(DATA_FILE)).json()["invoices"]]
    assert numbers == [f"F-{n}" for n in reversed(range(7))]


def count_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement the app's engine runs from now on (the list grows as they run).
    Patched on the engine's class: PostgreSQL's engine has no instance dictionary."""
    engine_class = type(current_engine())
    run = engine_class.run_querystring
    statements: list[str] = []

    async def counted(self: Engine, querystring: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(str(querystring))
        return await run(self, querystring, *args, **kwargs)

    monkeypatch.setattr(engine_class, "run_querystring", counted)
    return statements


async def test_the_page_costs_the_same_whatever_the_rows(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One statement per section on the page, however long the lists; the file adds one per
    batch read."""
    monkeypatch.setattr(export, "PAGE_ROWS", 5)
    monkeypatch.setattr(export, "BATCH", 10)
    payer_id = await sign_in(portal)
    statements = count_statements(monkeypatch)

    async def cost(path: str) -> int:
        statements.clear()
        assert (await portal.client.get(path)).status_code == 200
        return len(statements)

    page_empty, file_empty = await cost(DATA_PAGE), await cost(DATA_FILE)
    for n in range(30):
        await add_invoice("boe", payer_id, f"F-{n}")
    assert await cost(DATA_PAGE) == page_empty
    # 30 invoices in batches of 10: three full batches, then the empty one that ends the list.
    assert await cost(DATA_FILE) == file_empty + 3
    sections = 9 + 2  # the core's, and the two built-in plugins' that keep account rows
    # + the session's lookup (and its "last seen" update, where sessions record one): 12 today.
    assert sections + 1 <= page_empty <= sections + 2, statements


async def test_data_pages_need_a_login(portal: Portal) -> None:
    for path in (DATA_PAGE, DATA_FILE, DELETE_PAGE):
        response = await portal.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/boe/connexion"


# --- Supprimer mon compte ---------------------------------------------------------------------


async def delete(portal: Portal, password: str = GOOD_PASSWORD) -> Any:
    return await portal.post_form(DELETE_PAGE, {"password": password})


async def test_the_deletion_page_explains_and_asks_the_password(portal: Portal) -> None:
    await sign_in(portal)
    page = (await portal.client.get(DELETE_PAGE)).text
    assert "<title>Supprimer mon compte – Ville de Boé</title>" in page
    assert "Ce qui sera supprimé" in page and "Ce qui sera conservé par Ville de Boé" in page
    assert "novalidate" in page and 'autocomplete="current-password"' in page
    assert '<label for="password">Mot de passe actuel</label>' in page


async def test_a_wrong_password_deletes_nothing(portal: Portal) -> None:
    await sign_in(portal)
    for password in ("pas le bon mot de passe", ""):
        response = await delete(portal, password)
        assert response.status_code == 422
        assert "<title>Erreur – Supprimer mon compte – Ville de Boé</title>" in response.text
        assert 'aria-invalid="true"' in response.text
        assert 'aria-describedby="password-hint password-error-1"' in response.text
    assert "Le mot de passe actuel est incorrect." in (await delete(portal, "faux")).text
    assert "Saisissez votre mot de passe" in (await delete(portal, "")).text
    assert await Account.count() == 1
    assert (await portal.client.get("/boe/mes-informations")).status_code == 200


async def test_wrong_passwords_are_rate_limited_with_the_other_checks(portal: Portal) -> None:
    await sign_in(portal)
    for _ in range(10):
        assert (await delete(portal, "pas le bon mot de passe")).status_code == 422
    response = await delete(portal)  # even the right one, now
    assert response.status_code == 429
    assert "Trop de tentatives en peu de temps" in response.text
    assert await Account.count() == 1


async def test_deletion_needs_the_csrf_token(portal: Portal) -> None:
    await sign_in(portal)
    await portal.client.get(DELETE_PAGE)
    response = await portal.client.post(
        DELETE_PAGE, data={"password": GOOD_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert await Account.count() == 1


async def test_deletion_removes_the_account_keeps_the_accounting_and_signs_out(
    portal: Portal,
) -> None:
    furnished = await furnished_account(portal)
    account_id = furnished["account_id"]
    await portal.deliver()
    portal.sink.clear()

    response = await delete(portal)
    assert response.status_code == 303
    assert response.headers["location"] == "/boe/compte-supprime"
    assert 'portail_session=""' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    confirmation = await portal.client.get("/boe/compte-supprime")
    assert "Votre compte a été supprimé" in confirmation.text
    assert "<title>Compte supprimé – Ville de Boé</title>" in confirmation.text

    # Gone: the account and everything only its own.
    assert await Account.count() == 0
    for table, column in (
        (WebSession, WebSession.account),
        (AccountToken, AccountToken.account),
        (AlertAddress, AlertAddress.account),
        (AccountPayer, AccountPayer.account),
        (PaperPreference, PaperPreference.account),
    ):
        assert await table.count().where(column == account_id) == 0, table
    # Kept, unlinked: the commune's accounting and correspondence.
    assert await Invoice.count().where(Invoice.id == furnished["invoice_id"]) == 1
    attempt = await PaymentAttempt.select().where(PaymentAttempt.id == furnished["attempt_id"])
    assert attempt[0]["account"] is None and attempt[0]["amount_cents"] == 24311
    message = await ContactMessage.select().first()
    assert message["account"] is None and message["body"] == "La cantine de mars ?"

    # The browser is signed out, even with the old cookie.
    response = await portal.client.get("/boe/mes-informations", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/boe/connexion"

    service = await portal.mail_to("facturation@boe.test", "suppression d'un compte")
    assert CLAIRE in service.text and "Famille P1 (référence P1)" in service.text
    parent = await portal.mail_to(CLAIRE, "votre compte a été supprimé")
    assert "Vos factures et vos paiements restent connus du service facturation" in parent.text
    pending = await OutboundEmail.count().where(OutboundEmail.status == "pending")
    assert pending == 0


async def test_the_address_can_be_activated_again(portal: Portal) -> None:
    payer_id = await sign_in(portal)
    await add_invoice("boe", payer_id, "F-ENCORE")
    assert (await delete(portal)).status_code == 303
    login = await portal.login("boe", CLAIRE, GOOD_PASSWORD)
    assert "Adresse de messagerie ou mot de passe incorrect." in login.text

    await portal.activate("boe", CLAIRE, "une autre phrase de passe longue")
    response = await portal.client.get("/boe/factures")
    assert response.status_code == 200 and "F-ENCORE" in response.text
    assert await Account.count() == 1


async def test_deletion_is_one_transaction(portal: Portal, app: Litestar) -> None:
    """A plugin failing in `account_deleted` cancels everything: nothing deleted, no e-mail."""
    account_id = (await furnished_account(portal))["account_id"]
    await portal.deliver()
    waiting = await OutboundEmail.count()
    recorder = Recorder(fail=True)
    app.state.portal.pm.register(recorder, name="recorder")
    try:
        assert (await delete(portal)).status_code == 500
    finally:
        app.state.portal.pm.unregister(recorder)
    assert recorder.deleted == [account_id]
    assert await Account.count() == 1
    assert await PaperPreference.count() == 1
    assert await AlertAddress.count() == 1
    assert await OutboundEmail.count() == waiting


# --- The hooks -------------------------------------------------------------------------------


class Recorder:
    """A plugin that keeps a little about accounts; enabled for no commune."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.deleted: list[int] = []

    @hookimpl
    def account_data_export(self, account_id: int) -> Any:
        async def sections() -> list[ExportSection]:
            columns = [ExportColumn("badge", "Badge de cantine")]
            return [ExportSection("recorder", "Badges", columns, [{"badge": f"B-{account_id}"}])]

        return sections()

    @hookimpl
    def account_deleted(self, account_id: int) -> Any:
        async def forget() -> None:
            self.deleted.append(account_id)
            if self.fail:
                raise RuntimeError("the plugin could not delete its rows")

        return forget()


async def test_hook_account_data_export(
    clean_db: Engine, settings: Settings, portal_config: PortalConfig, mail_sink: MailSink
) -> None:
    """Plugins add their sections, enabled for the commune or not (their rows stay theirs)."""
    recorder = Recorder()
    app = create_app(settings, config=portal_config, extra_plugins=[("recorder", recorder)])
    mail_sink.clear()
    async with serve(app) as client:
        portal = Portal(client=client, sink=mail_sink, settings=settings)
        account_id = await sign_in(portal)
        data = (await client.get(DATA_FILE)).json()
        assert data["recorder"] == [{"badge": f"B-{account_id}"}]
        page = (await client.get(DATA_PAGE)).text
        assert ">Badges</h2>" in page and "Badge de cantine" in page and f"B-{account_id}" in page

        aure = app.state.portal.communes["aure"]  # paper_optout is off there, still asked
        pending = aure.hooks.all_plugins.account_data_export(commune=aure, account_id=account_id)
        keys = {section.key for sections in [await p for p in pending] for section in sections}
        assert keys == {"recorder", "paper_optout"}  # TIPI adds nothing without notes
        # The commune's own proxy would have asked only the plugin it enables (TIPI).
        pending = aure.hooks.account_data_export(commune=aure, account_id=account_id)
        assert [await p for p in pending] == [[]]


async def test_hook_account_deleted(
    clean_db: Engine, settings: Settings, portal_config: PortalConfig, mail_sink: MailSink
) -> None:
    """Every plugin is told, inside the deletion, before the account's row goes."""
    seen: list[int] = []

    class Witness(Recorder):
        @hookimpl
        def account_deleted(self, account_id: int) -> Any:
            async def look() -> None:
                # Still there: the plugin can read what it needs about the account.
                seen.append(await Account.count().where(Account.id == account_id))
                self.deleted.append(account_id)

            return look()

    witness = Witness()
    app = create_app(settings, config=portal_config, extra_plugins=[("witness", witness)])
    mail_sink.clear()
    async with serve(app) as client:
        portal = Portal(client=client, sink=mail_sink, settings=settings)
        await sign_in(portal)
        account = await Account.select(Account.id).first()
        assert (await portal.post_form(DELETE_PAGE, {"password": GOOD_PASSWORD})).status_code == 303
    assert witness.deleted == [account["id"]] and seen == [1]
    assert await Account.count() == 0


async def test_export_and_deletion_are_in_the_security_log(
    portal: Portal, security_log: SecurityLog
) -> None:
    await sign_in(portal)
    assert (await portal.client.get("/boe/mes-informations/mes-donnees.json")).status_code == 200
    assert (await delete(portal, "pas le bon mot de passe")).status_code == 422
    assert (await delete(portal)).status_code == 303
    (export_line,) = security_log.lines("account_export")
    assert export_line["outcome"] == "success" and export_line["commune"] == "boe"
    outcomes = [line["outcome"] for line in security_log.lines("account_deletion")]
    assert outcomes == ["failure", "success"]
    assert GOOD_PASSWORD not in security_log.text
