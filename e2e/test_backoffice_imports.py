"""Importer des factures, at desktop and tablet sizes: a file refused for one bad line, the
corrected file checked then published; the parent then sees the invoice and gets the alert.
And an administrator's API key, used by a "billing software" (urllib), then revoked."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.demo_accounts import DEMO_PASSWORD
from core.mail.sink import MailSink
from e2e.backoffice import BACKOFFICE_SIZES, agent_address, open_section, signed_in_agent
from e2e.journeys import (
    MAIL_TIMEOUT,
    Viewport,
    assert_accessible,
    assert_fits_the_width,
    login,
    url,
)

pytestmark = pytest.mark.e2e

PARENT = "claire.martin@example.org"  # payer B-0001 of examples/factures-boe.csv, in the demo
HEADER = (
    "reference_debiteur;nom_debiteur;emails;regie;numero_facture;objet;date_emission;"
    "date_echeance;montant;statut"
)


def write_csv(path: Path, number: str, amount: str) -> Path:
    line = (
        f"B-0001;Famille Martin;{PARENT};CANT;{number};Restauration scolaire décembre 2026;"
        f"05/01/2027;31/01/2027;{amount};à régler"
    )
    path.write_text(f"{HEADER}\n{line}\n", "utf-8")
    return path


def send_file(page: Page, path: Path) -> None:
    page.get_by_label("Fichier CSV des factures").set_input_files(str(path))
    page.get_by_role("button", name="Vérifier le fichier").click()


@BACKOFFICE_SIZES
def test_a_gestionnaire_fixes_a_refused_file_then_publishes_it(
    page: Page,
    viewport: Viewport,
    server_process: object,
    mail_sink: MailSink,
    tmp_path: Path,
) -> None:
    base_url = server_process.base_url  # type: ignore[attr-defined]
    number = f"E2E-IMPORT-{viewport.name.upper()}"
    email = agent_address("imports", viewport.name)
    signed_in_agent(page, server_process, mail_sink, email, "gestionnaire")
    open_section(page, "Importer des factures")
    expect(page.get_by_role("heading", level=1)).to_have_text("Importer des factures")
    assert_accessible(page)
    assert_fits_the_width(page)

    send_file(page, write_csv(tmp_path / f"factures-{viewport.name}.csv", number, "-12,30"))
    expect(page.get_by_role("heading", level=2, name="Fichier refusé")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("rien n’a été enregistré")
    refused = page.get_by_role("table", name="Lignes refusées")
    expect(refused.get_by_role("row").nth(1)).to_contain_text("montant")
    expect(refused).to_contain_text("Le montant ne peut pas être négatif (-12,30).")
    expect(page.get_by_role("button", name="Publier les factures")).to_have_count(0)
    expect(page).to_have_title(f"Erreur – Import de factures-{viewport.name}.csv – Ville de Boé")
    assert_accessible(page)
    assert_fits_the_width(page)

    page.get_by_role("link", name="Importer le fichier corrigé").click()
    send_file(page, write_csv(tmp_path / f"factures-{viewport.name}-v2.csv", number, "12,30"))
    expect(page.get_by_role("heading", level=2)).to_have_text("Rapport de vérification")
    expect(page.get_by_text("Rien n’a encore été enregistré")).to_be_visible()
    assert_accessible(page)
    assert_fits_the_width(page)
    page.get_by_role("button", name="Publier les factures").click()
    # The page follows the publication (htmx polling) until it is over.
    expect(page.get_by_role("heading", level=2, name="Import publié")).to_be_visible(timeout=20_000)
    assert_accessible(page)
    assert_fits_the_width(page)
    open_section(page, "Importer des factures")
    history = page.get_by_role("table", name="Imports de factures")
    expect(history).to_contain_text(f"factures-{viewport.name}-v2.csv")
    expect(history).to_contain_text("publié")

    # The parent sees the invoice and got the alert.
    login(page, base_url, PARENT, DEMO_PASSWORD)
    page.goto(url(base_url, "factures"))
    expect(page.get_by_text(number)).to_be_visible()
    mail = mail_sink.wait_for(
        lambda m: PARENT in m.recipients and number in m.text, timeout=MAIL_TIMEOUT
    )
    assert "Nouvelles factures" in mail.subject


@BACKOFFICE_SIZES
def test_an_administrator_creates_an_api_key_the_software_uses_then_revokes_it(
    page: Page, viewport: Viewport, server_process: object, mail_sink: MailSink
) -> None:
    base_url = server_process.base_url  # type: ignore[attr-defined]
    email = agent_address("api-keys", viewport.name)
    signed_in_agent(page, server_process, mail_sink, email, "administrateur")
    open_section(page, "Importer des factures")
    page.get_by_role("link", name="gérer les clés d’API").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Clés d’API")
    assert_accessible(page)
    page.get_by_role("button", name="Créer la clé").click()
    expect(page).to_have_title("Erreur – Clés d’API – Ville de Boé")
    expect(page.get_by_label("Nom de la clé")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
    label = f"Logiciel {viewport.name}"
    page.get_by_label("Nom de la clé").fill(label)
    page.get_by_role("button", name="Créer la clé").click()
    key = page.get_by_label("Clé d’API", exact=True).input_value()
    assert key.startswith("pdf_")
    assert_accessible(page)
    assert_fits_the_width(page)

    csv = f"{HEADER}\n".encode()  # a header alone: a dry run that finds nothing to do
    request = urllib.request.Request(  # noqa: S310 (the http:// URL of the test server)
        url(base_url, "api/imports?dry_run=1"),
        data=csv,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert json.loads(response.read())["dry_run"] is True

    page.goto(url(base_url, "gestion/cles-api"))  # the key is never shown again
    expect(page.get_by_label("Clé d’API", exact=True)).to_have_count(0)
    expect(page.get_by_role("table")).to_contain_text(key[:8])
    page.get_by_role("button", name=f"Révoquer la clé {label}").click()
    expect(page.get_by_role("status")).to_contain_text("La clé est révoquée")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert refused.value.code == 401
