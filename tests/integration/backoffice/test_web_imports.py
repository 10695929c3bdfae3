"""Importer des factures: upload, the dry run's report, publishing in the background, the
history, discarding; who may do it. And the API keys page."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from core.backoffice import imports
from core.backoffice.journal import list_entries
from core.backoffice.tables import ADMINISTRATEUR, GESTIONNAIRE, LECTEUR, ImportJob
from core.invoices.tables import Invoice
from tests.integration.backoffice.import_files import (
    HOSTILE_ZIP_MESSAGE,
    hostile_zip,
    invoices_csv,
)
from tests.integration.backoffice.web import commune_of, signed_in_agent
from tests.integration.conftest import Portal, sign_in

IMPORTS = "/boe/gestion/imports"
JOB_PATH = re.compile(r"^/boe/gestion/imports/(\d+)$")


async def upload(
    portal: Portal, csv: bytes | None, name: str = "factures.csv", archive: bytes | None = None
) -> Any:
    """Post the upload form (multipart, with the page's CSRF token); not followed."""
    token = await portal.csrf(IMPORTS)
    files: dict[str, Any] = {}
    if csv is not None:
        files["csv"] = (name, csv, "text/csv")
    if archive is not None:
        files["pdfs"] = ("pdf.zip", archive, "application/zip")
    return await portal.client.post(
        IMPORTS, data={"_csrf_token": token}, files=files or None, follow_redirects=False
    )


async def uploaded_job(portal: Portal, csv: bytes, **kwargs: Any) -> int:
    response = await upload(portal, csv, **kwargs)
    assert response.status_code == 303, response.text
    match = JOB_PATH.match(response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


async def wait_until_finished(portal: Portal, job_id: int) -> str:
    """The job page once the background publication is over (polled like the page does)."""
    for _ in range(200):
        page = await portal.client.get(
            f"{IMPORTS}/{job_id}", headers={"hx-request": "true", "hx-target": "import-status"}
        )
        if "every 1s" not in page.text:
            return str(page.text)
        await asyncio.sleep(0.05)
    raise AssertionError("the publication did not finish")


async def invoice_numbers() -> set[str]:
    return {row["number"] for row in await Invoice.select(Invoice.number)}


async def test_a_file_with_a_bad_line_is_refused_then_the_corrected_one_is_published(
    portal: Portal,
) -> None:
    await sign_in(portal)  # claire@example.org, payer P1, an active account
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    page = await portal.client.get(IMPORTS)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert 'aria-current="page">Importer des factures</a>' in page.text
    assert "gérer les clés d’API" not in page.text  # administrators only

    bad = await uploaded_job(
        portal, invoices_csv("F-1", "F-2", bad_amount_on="F-2"), name="export-bad.csv"
    )
    report = await portal.client.get(f"{IMPORTS}/{bad}")
    assert "<title>Erreur – Import de export-bad.csv" in report.text
    assert "Fichier refusé : 1 erreur(s), rien n’a été enregistré." in report.text
    assert '<th scope="row" class="num">3</th><td>montant</td>' in report.text
    assert "Le montant ne peut pas être négatif (-27,00)." in report.text
    assert "Publier les factures" not in report.text
    assert await invoice_numbers() == set()
    assert (await portal.post_form(f"{IMPORTS}/{bad}/publier", {}, form_page=IMPORTS)).headers[
        "location"
    ] == f"{IMPORTS}/{bad}"

    good = await uploaded_job(portal, invoices_csv("F-1", "F-2"), name="export.csv")
    preview = await portal.client.get(f"{IMPORTS}/{good}")
    assert "Rien n’a encore été enregistré" in preview.text
    assert re.search(r"Factures à créer</p><p class=\"figure__value\">2<", preview.text)
    assert re.search(
        r"Alertes à envoyer aux familles</p><p class=\"figure__value\">1<", preview.text
    )
    assert await invoice_numbers() == set()

    response = await portal.post_form(f"{IMPORTS}/{good}/publier", {}, form_page=IMPORTS)
    assert response.headers["location"] == f"{IMPORTS}/{good}?info=import_publishing"
    done = await wait_until_finished(portal, good)
    assert 'id="import-status"' in done and "<html" not in done  # the fragment alone
    assert "Import publié" in done
    assert await invoice_numbers() == {"F-1", "F-2"}
    mail = await portal.mail_to("claire@example.org", "Nouvelles factures")
    assert "F-1" in mail.text
    # Publishing twice does nothing.
    again = await portal.post_form(f"{IMPORTS}/{good}/publier", {}, form_page=IMPORTS)
    assert again.headers["location"] == f"{IMPORTS}/{good}"

    history = await portal.client.get(IMPORTS)
    assert "export-bad.csv" in history.text and "export.csv" in history.text
    assert "publié" in history.text and "échec" in history.text
    assert "Agent gestionnaire" in history.text
    boe = commune_of(portal, "boe").id
    actions = [entry.action for entry in (await list_entries(boe)).entries]
    assert actions.count("invoices.import.upload") == 2
    [published] = [
        e for e in (await list_entries(boe)).entries if e.action == "invoices.import.publish"
    ]
    assert published.after["created"] == 2 and published.actor_label.startswith(
        "Agent gestionnaire"
    )


async def test_a_hostile_zip_is_refused_with_its_message(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    job = await uploaded_job(portal, invoices_csv("F-9"), archive=hostile_zip())
    page = await portal.client.get(f"{IMPORTS}/{job}")
    assert "Archive des PDF refusée" in page.text
    assert HOSTILE_ZIP_MESSAGE in page.text
    assert "Publier les factures" not in page.text
    assert await invoice_numbers() == set()


async def test_upload_problems_are_told_next_to_the_fields(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    missing = await upload(portal, None)
    assert missing.status_code == 422
    assert "<title>Erreur – Importer des factures" in missing.text
    assert "Choisissez le fichier CSV des factures à importer." in missing.text
    assert 'aria-describedby="csv-hint csv-error-1"' in missing.text
    monkeypatch.setattr("core.backoffice.web.imports.CSV_MAX_BYTES", 10)
    too_big = await upload(portal, invoices_csv("F-1"))
    assert too_big.status_code == 422
    assert "Le fichier CSV dépasse la taille maximale" in too_big.text
    assert await ImportJob.count() == 0


async def test_a_request_over_the_size_limit_goes_back_to_the_form(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    response = await portal.client.post(
        IMPORTS,
        content=b"x",
        headers={
            "content-type": "multipart/form-data; boundary=b",
            "content-length": str(imports.UPLOAD_MAX_BYTES + 1),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == f"{IMPORTS}?erreur=taille"
    page = await portal.client.get(response.headers["location"])
    assert "Les fichiers envoyés dépassent la taille maximale de 151 Mo" in page.text


async def test_a_planned_import_can_be_discarded(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    job = await uploaded_job(portal, invoices_csv("F-1"))
    response = await portal.post_form(f"{IMPORTS}/{job}/abandonner", {}, form_page=IMPORTS)
    assert response.headers["location"] == f"{IMPORTS}/{job}?info=import_discarded"
    page = await portal.client.get(response.headers["location"])
    assert "L’import est abandonné : rien n’a été publié." in page.text
    boe = commune_of(portal, "boe").id
    assert "invoices.import.discard" in [e.action for e in (await list_entries(boe)).entries]
    again = await portal.post_form(f"{IMPORTS}/{job}/publier", {}, form_page=IMPORTS)
    assert again.headers["location"] == f"{IMPORTS}/{job}"
    assert await invoice_numbers() == set()


async def test_another_communes_import_is_not_found(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    job = await uploaded_job(portal, invoices_csv("F-1"), name="secret-boe.csv")
    await signed_in_agent(portal, "aure", "gestion@aure.test", GESTIONNAIRE)
    page = await portal.client.get(f"/aure/gestion/imports/{job}")
    assert page.status_code == 404 and "secret-boe.csv" not in page.text
    assert "secret-boe.csv" not in (await portal.client.get("/aure/gestion/imports")).text


async def test_a_publication_interrupted_by_a_stop_is_failed_at_start_up(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    job = await uploaded_job(portal, invoices_csv("F-1"))
    await ImportJob.update({ImportJob.status: "publishing", ImportJob.progress: 30}).where(
        ImportJob.id == job
    )
    # While it publishes, the page shows the progress and polls its own block.
    running = await portal.client.get(f"{IMPORTS}/{job}")
    assert '<progress class="progress" max="100" value="30"' in running.text
    assert f'hx-get="{IMPORTS}/{job}" hx-trigger="every 1s" hx-target="this"' in running.text
    assert await imports.fail_interrupted_imports() == 1
    page = await portal.client.get(f"{IMPORTS}/{job}")
    assert "interrompue par un arrêt du serveur" in page.text


async def test_a_lecteur_opens_no_import_route(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    job = await uploaded_job(portal, invoices_csv("F-1"))
    await portal.post_form("/boe/gestion/deconnexion", {}, form_page="/boe/gestion/")
    await signed_in_agent(portal, "boe", "lecteur@boe.test", LECTEUR)
    assert "Importer des factures" not in (await portal.client.get("/boe/gestion/")).text
    token = await portal.csrf("/boe/gestion/")
    for method, path in [
        ("GET", IMPORTS),
        ("POST", IMPORTS),
        ("GET", f"{IMPORTS}/{job}"),
        ("POST", f"{IMPORTS}/{job}/publier"),
        ("POST", f"{IMPORTS}/{job}/abandonner"),
        ("GET", "/boe/gestion/cles-api"),
        ("POST", "/boe/gestion/cles-api"),
    ]:
        data = {"_csrf_token": token} if method == "POST" else None
        response = await portal.client.request(method, path, data=data, follow_redirects=False)
        assert response.status_code == 403, (method, path)
    assert (await ImportJob.select(ImportJob.status).first())["status"] == "planned"  # type: ignore[index]


async def test_an_administrator_creates_a_key_seen_once_and_revokes_it(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "admin@boe.test", ADMINISTRATEUR)
    imports_page = await portal.client.get(IMPORTS)
    assert 'href="/boe/gestion/cles-api"' in imports_page.text
    empty = await portal.post_form("/boe/gestion/cles-api", {"label": "  "})
    assert empty.status_code == 422 and "<title>Erreur – Clés d’API" in empty.text
    created = await portal.post_form("/boe/gestion/cles-api", {"label": "Logiciel"})
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    key = re.search(r'value="(pdf_[A-Za-z0-9_\-]+)"', created.text)
    assert key, created.text
    listing = await portal.client.get("/boe/gestion/cles-api")
    assert key.group(1) not in listing.text
    assert "Logiciel" in listing.text and key.group(1)[:8] in listing.text
    key_id = re.search(r'action="/boe/gestion/cles-api/(\d+)/revoquer"', listing.text)
    assert key_id
    revoked = await portal.post_form(
        f"/boe/gestion/cles-api/{key_id.group(1)}/revoquer", {}, form_page="/boe/gestion/cles-api"
    )
    assert revoked.headers["location"] == "/boe/gestion/cles-api?info=api_key_revoked"
    listing = await portal.client.get(revoked.headers["location"])
    assert "révoquée le" in listing.text and "/revoquer" not in listing.text


async def test_a_gestionnaire_cannot_manage_keys(portal: Portal) -> None:
    await signed_in_agent(portal, "boe", "gestion@boe.test", GESTIONNAIRE)
    assert (await portal.client.get("/boe/gestion/cles-api")).status_code == 403
