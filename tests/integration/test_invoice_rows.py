"""The rows of "Mes factures": a direct debit marked in "À régler", and in "Réglées" how and
when each invoice was paid, its reference, its receipt and its PDF (issue 9).

Boé runs the `prelevement` plugin here; Aure does not (its direct-debit invoices are paid online
like any other, so they are not marked).
"""

from __future__ import annotations

import copy
import datetime as dt
import html as html_lib
import re

import pytest

from core.accounts.tables import Account, AccountPayer, PayerEmail
from core.communes.tables import Commune, Regie
from core.config import PortalConfig, parse_config
from core.invoices.tables import PAID, TREASURY
from core.payments.tables import PAID as ATTEMPT_PAID
from core.payments.tables import PaymentAttempt, PaymentAttemptInvoice
from core.plugins import collect_plugin_settings, get_plugin_manager
from tests.integration.conftest import CONFIG, Portal, add_invoice, sign_in

DEBIT_MARK = "Prélèvement automatique"


@pytest.fixture
def portal_config() -> PortalConfig:
    raw = copy.deepcopy(CONFIG)
    boe, aure = raw["communes"]
    boe["plugins"]["prelevement"] = {}
    aure["regies"] = [{"code": "PERI", "name": "Périscolaire"}]
    pm = get_plugin_manager(load_entry_points=False)
    return parse_config(raw, collect_plugin_settings(pm))


def rows_of(page: str) -> dict[str, str]:
    """Each row of the page's table as its text (tags dropped, spaces collapsed), by number."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr.*?</tr>", body, flags=re.S):
        text = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", row)).split())
        number = re.search(r'<span class="visually-hidden">Facture </span>([^<]+)</a>', row)
        assert number, row
        rows[number.group(1)] = text
    return rows


def raw_rows_of(page: str) -> dict[str, str]:
    """Each row's HTML, by invoice number."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return {
        re.search(r"Facture </span>([^<]+)</a>", row).group(1): row  # type: ignore[union-attr]
        for row in re.findall(r"<tr.*?</tr>", body, flags=re.S)
    }


async def paid_online(
    invoice_id: int, account_id: int | None, refdet: str, result_code: str = "P"
) -> None:
    """A payment of the portal, by card ("P") or direct debit ("V"), that settled the invoice."""
    commune = await Commune.select(Commune.id).where(Commune.slug == "boe").first()
    regie = await Regie.select(Regie.id).where(Regie.code == "CANT").first()
    assert commune is not None and regie is not None
    now = dt.datetime.now(dt.UTC)
    rows = await PaymentAttempt.insert(
        PaymentAttempt(
            commune=commune["id"],
            account=account_id,
            regie=regie["id"],
            provider="payfip",
            refdet=refdet,
            numcli="004200",
            exer="2026",
            amount_cents=24311,
            email="claire@example.org",
            state=ATTEMPT_PAID,
            result_code=result_code,
            authorisation_number="540797953065-tip",
            paid_at=now,
            created_at=now,
            updated_at=now,
        )
    ).returning(PaymentAttempt.id)
    await PaymentAttemptInvoice.insert(
        PaymentAttemptInvoice(
            attempt=rows[0]["id"], invoice=invoice_id, amount_cents=24311, settled=True
        )
    )


async def account_id(email: str) -> int:
    row = await Account.select(Account.id).where(Account.email == email).first()
    assert row is not None
    return int(row["id"])


# --- À régler: the direct debit ---------------------------------------------------------------


async def test_a_direct_debit_is_marked_in_its_row_with_its_date(portal: Portal) -> None:
    payer = await sign_in(portal)
    await add_invoice(
        "boe", payer, "R-DEBIT", direct_debit=True, debit_on=dt.date(2026, 12, 10), due_on=None
    )
    await add_invoice("boe", payer, "R-DEBIT-UNDATED", direct_debit=True)
    await add_invoice("boe", payer, "R-PLAIN")
    await add_invoice("boe", payer, "R-SENT", status=TREASURY, direct_debit=True)

    rows = rows_of((await portal.client.get("/boe/factures")).text)
    assert "Prélèvement automatique le 10/12/2026" in rows["R-DEBIT"]
    # Screen readers hear why the row offers nothing to pay.
    assert "elle ne se paie pas en ligne" in rows["R-DEBIT"]
    assert DEBIT_MARK in rows["R-DEBIT-UNDATED"]
    assert "Prélèvement automatique le" not in rows["R-DEBIT-UNDATED"]
    assert DEBIT_MARK not in rows["R-PLAIN"]
    # Sent to the treasury, it is no longer taken by direct debit.
    treasury = rows_of((await portal.client.get("/boe/factures/tresorerie")).text)
    assert DEBIT_MARK not in treasury["R-SENT"]
    # Never late: the commune takes it.
    assert "En retard" not in rows["R-DEBIT"]
    # The detail agrees: no online payment.
    invoice_id = re.search(
        r'id="invoice-link-(\d+)"[^>]*>.{0,60}R-DEBIT</a>',
        (await portal.client.get("/boe/factures")).text,
    )
    assert invoice_id
    detail = (await portal.client.get(f"/boe/factures/{invoice_id.group(1)}")).text
    assert "Ma facture est en prélèvement automatique." in detail
    assert "Payer la facture" not in detail


async def test_no_direct_debit_mark_where_the_commune_does_not_run_the_plugin(
    portal: Portal,
) -> None:
    payer = await sign_in(portal, "aure", "jean@example.org", ref="A1")
    await add_invoice(
        "aure", payer, "AURE-DEBIT", direct_debit=True, debit_on=dt.date(2026, 12, 10)
    )
    rows = rows_of((await portal.client.get("/aure/factures")).text)
    assert DEBIT_MARK not in rows["AURE-DEBIT"]


# --- Réglées: how, when, reference, receipt, PDF ----------------------------------------------


async def test_paid_rows_say_how_and_when_with_the_reference_and_pdf(portal: Portal) -> None:
    payer = await sign_in(portal)
    paid = {"status": PAID, "paid": 24311, "paid_on": dt.date(2026, 11, 5)}
    modes = {
        "P-CHEQUE": ("cheque", "CHQ-0042", "Réglé par chèque le 05/11/2026"),
        "P-CASH": ("especes", "", "Réglé en espèces le 05/11/2026"),
        "P-CARD": ("carte", "", "Réglé par carte le 05/11/2026"),
        "P-DEBIT": ("prelevement", "", "Réglé par prélèvement le 05/11/2026"),
        "P-TRANSFER": ("virement", "", "Réglé par virement le 05/11/2026"),
        "P-IMPORTED": ("en_ligne", "PF-784512", "Réglé en ligne le 05/11/2026"),
        "P-OTHER": ("autre", "", "Réglé le 05/11/2026"),
        "P-UNKNOWN": ("bon CAF", "", "Réglé le 05/11/2026 (bon CAF)"),
        "P-NONE": ("", "", "Réglé le 05/11/2026"),
    }
    for number, (mode, reference, _) in modes.items():
        await add_invoice(
            "boe", payer, number, payment_mode=mode, authorisation_number=reference, **paid
        )
    await add_invoice("boe", payer, "P-PARTIAL", status=PAID, amount=5000, paid=3000)
    await add_invoice("boe", payer, "P-TREASURY", status=TREASURY)

    page = (await portal.client.get("/boe/factures/reglees")).text
    for header in ("Règlement", "PDF"):
        assert f'<th scope="col">{header}</th>' in page
    for gone in ("Réglée le", "Mode de règlement", "Montant réglé</th>"):
        assert gone not in page  # merged into "Règlement"
    rows = rows_of(page)
    assert set(rows) == {*modes, "P-PARTIAL"}
    for number, (_, reference, wording) in modes.items():
        assert wording in rows[number], (number, rows[number])
        assert f"Télécharger la facture n° {number} (PDF)" in rows[number]
        assert "Reçu" not in rows[number]  # no payment of the portal
        assert "Montant réglé" not in rows[number]  # paid in full
        if not reference:
            assert "Référence" not in rows[number] and "autorisation" not in rows[number]
    # The import's reference: an authorisation number when paid online, a reference otherwise.
    assert "Référence : CHQ-0042" in rows["P-CHEQUE"]
    assert "N° d’autorisation : PF-784512" in rows["P-IMPORTED"]
    assert "Réglé par carte" not in rows["P-UNKNOWN"]
    # No date known: no "le".
    assert re.search(r"Réglé Montant réglé : 30,00\s€", rows["P-PARTIAL"])
    # The PDF link leads to the invoice's PDF.
    raw = raw_rows_of(page)
    link = re.search(r'href="(/boe/factures/\d+/pdf)"', raw["P-CHEQUE"])
    assert link
    response = await portal.client.get(link.group(1))
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert b"P-CHEQUE" in response.content


async def test_a_payment_of_the_portal_gives_its_means_reference_and_receipt(
    portal: Portal,
) -> None:
    payer = await sign_in(portal)
    me = await account_id("claire@example.org")
    online = {"status": PAID, "paid": 24311, "paid_on": dt.date(2026, 11, 5)}
    by_card = await add_invoice("boe", payer, "O-CARD", payment_mode="en_ligne", **online)
    by_debit = await add_invoice("boe", payer, "O-DEBIT", payment_mode="en_ligne", **online)
    by_other = await add_invoice("boe", payer, "O-OTHER", payment_mode="en_ligne", **online)
    await paid_online(by_card, me, "20261105CARDCARDCARD")
    await paid_online(by_debit, me, "20261105DEBTDEBTDEBT", result_code="V")
    # Paid by the other parent of the family: their receipt is theirs alone.
    await paid_online(by_other, None, "20261105THEMTHEMTHEM")

    page = (await portal.client.get("/boe/factures/reglees")).text
    rows, raw = rows_of(page), raw_rows_of(page)
    assert "Réglé en ligne par carte le 05/11/2026" in rows["O-CARD"]
    assert "Référence : 20261105CARDCARDCARD" in rows["O-CARD"]
    assert 'href="/boe/paiement/20261105CARDCARDCARD"' in raw["O-CARD"]
    assert "Reçu du paiement de la facture n° O-CARD" in rows["O-CARD"]
    assert "Réglé en ligne par prélèvement le 05/11/2026" in rows["O-DEBIT"]
    assert 'href="/boe/paiement/20261105DEBTDEBTDEBT"' in raw["O-DEBIT"]
    assert "Réglé en ligne par carte le 05/11/2026" in rows["O-OTHER"]
    assert "THEM" not in page and "Reçu" not in rows["O-OTHER"]
    # The receipt link opens.
    receipt = await portal.client.get("/boe/paiement/20261105CARDCARDCARD")
    assert receipt.status_code == 200
    # The detail says the same.
    detail = (await portal.client.get(f"/boe/factures/{by_debit}")).text
    assert "<dd>Paiement en ligne, par prélèvement</dd>" in detail
    assert "<dt>Référence du paiement</dt><dd>20261105DEBTDEBTDEBT (<a" in detail
    assert 'href="/boe/paiement/20261105DEBTDEBTDEBT">voir le reçu</a>' in detail
    other = (await portal.client.get(f"/boe/factures/{by_other}")).text
    assert "<dd>Paiement en ligne, par carte bancaire</dd>" in other
    assert "THEM" not in other and "Référence du paiement" not in other


async def test_a_second_account_of_the_payer_sees_the_means_but_not_the_receipt(
    portal: Portal,
) -> None:
    payer = await sign_in(portal)
    invoice = await add_invoice(
        "boe", payer, "S-CARD", status=PAID, paid=24311, payment_mode="en_ligne"
    )
    await paid_online(invoice, await account_id("claire@example.org"), "20261105MINEMINEMINE")
    # The other parent: another address of the same payer, their own account.
    portal.client.cookies.clear()
    commune = await Commune.select(Commune.id).where(Commune.slug == "boe").first()
    assert commune is not None
    await PayerEmail.insert(
        PayerEmail(commune=commune["id"], payer=payer, email="paul@example.org")
    )
    await portal.activate("boe", "paul@example.org")
    assert await AccountPayer.exists().where(
        AccountPayer.account == await account_id("paul@example.org")
    )
    rows = rows_of((await portal.client.get("/boe/factures/reglees")).text)
    assert "Réglé en ligne par carte" in rows["S-CARD"]
    assert "MINE" not in rows["S-CARD"] and "Reçu" not in rows["S-CARD"]
