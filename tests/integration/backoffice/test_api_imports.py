"""The import API: a billing software posts its CSV export with a key of its commune."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.backoffice.api_keys import create_api_key, revoke_api_key
from core.backoffice.identity import AgentInfo
from core.backoffice.journal import list_entries
from core.backoffice.tables import ADMINISTRATEUR, ImportJob
from core.invoices.tables import Invoice
from core.security import throttle
from tests.integration.backoffice.conftest import make_agent
from tests.integration.backoffice.import_files import (
    HOSTILE_ZIP_MESSAGE,
    PDF,
    hostile_zip,
    invoices_csv,
    zip_of,
)
from tests.integration.backoffice.web import app_mailer, commune_of
from tests.integration.conftest import Portal, sign_in

API = "/boe/api/imports"


@pytest.fixture
async def api(portal: Portal) -> AsyncIterator[httpx.AsyncClient]:
    """A client of its own: no cookie, no CSRF token, as a billing software calls."""
    transport = portal.client._transport
    async with httpx.AsyncClient(transport=transport, base_url="http://portail.test") as client:
        yield client


async def admin(portal: Portal, slug: str = "boe") -> AgentInfo:
    commune = commune_of(portal, slug)
    return await make_agent(commune, app_mailer(portal), f"admin@{slug}.test", ADMINISTRATEUR)


async def new_key(portal: Portal, slug: str = "boe", label: str = "Logiciel") -> str:
    agent = await admin(portal, slug)
    _, plain = await create_api_key(commune_of(portal, slug).id, label, agent)
    return plain


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def post_csv(api: httpx.AsyncClient, key: str | None, csv: bytes, query: str = "") -> Any:
    headers = {"content-type": "text/csv", **(bearer(key) if key else {})}
    return await api.post(API + query, content=csv, headers=headers)


async def numbers() -> set[str]:
    return {row["number"] for row in await Invoice.select(Invoice.number)}


async def test_a_good_key_publishes_and_the_parent_is_alerted(
    portal: Portal, api: httpx.AsyncClient
) -> None:
    await sign_in(portal)
    key = await new_key(portal)
    dry = await post_csv(api, key, invoices_csv("F-1"), "?dry_run=1")
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and dry.json()["created"] == 1
    assert await numbers() == set()

    response = await post_csv(api, key, invoices_csv("F-1", "F-2"), "?nom=export.csv")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] and not body["dry_run"] and body["created"] == 2
    assert body["alerts_queued"] == 1 and body["errors"] == [] and body["truncated"] is False
    assert "set-cookie" not in response.headers
    assert await numbers() == {"F-1", "F-2"}
    assert "F-2" in (await portal.mail_to("claire@example.org", "Nouvelles factures")).text

    job = await ImportJob.select().where(ImportJob.id == body["job"]).first()
    assert job is not None
    assert (job["source"], job["status"], job["file_name"]) == ("api", "published", "export.csv")
    entries = (await list_entries(commune_of(portal, "boe").id)).entries
    [published] = [entry for entry in entries if entry.action == "invoices.import.publish"]
    assert published.actor_label == "API : clé « Logiciel »"
    assert published.after["created"] == 2


async def test_a_refused_file_answers_422_with_every_error(
    portal: Portal, api: httpx.AsyncClient
) -> None:
    key = await new_key(portal)
    response = await post_csv(api, key, invoices_csv("F-1", "F-2", bad_amount_on="F-2"))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error == {
        "line": 3,
        "column": "montant",
        "message": "Le montant ne peut pas être négatif (-27,00).",
    }
    assert await numbers() == set()


async def test_multipart_with_pdfs_and_a_hostile_zip(
    portal: Portal, api: httpx.AsyncClient
) -> None:
    key = await new_key(portal)
    files = {
        "file": ("export.csv", invoices_csv("F-1"), "text/csv"),
        "pdfs": ("pdf.zip", zip_of({"F-1.pdf": PDF}), "application/zip"),
    }
    response = await api.post(API, files=files, headers=bearer(key))
    assert response.status_code == 200, response.text
    assert response.json()["pdfs_attached"] == 1

    files["pdfs"] = ("pdf.zip", hostile_zip(), "application/zip")
    refused = await api.post(API, files=files, headers=bearer(key))
    assert refused.status_code == 422
    assert HOSTILE_ZIP_MESSAGE in refused.json()["error"]


async def test_no_bad_revoked_or_foreign_key_is_401(portal: Portal, api: httpx.AsyncClient) -> None:
    boe = commune_of(portal, "boe").id
    agent = await admin(portal)
    info, key = await create_api_key(boe, "Logiciel", agent)
    aure_key = await new_key(portal, "aure")
    for sent in (None, "pdf_not-a-key", aure_key):
        response = await post_csv(api, sent, invoices_csv("F-1"))
        assert response.status_code == 401, sent
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "Clé d’API absente" in response.json()["error"]
    assert (await post_csv(api, key, invoices_csv("F-1"), "?dry_run=1")).status_code == 200
    assert await revoke_api_key(boe, info.id, agent)
    assert (await post_csv(api, key, invoices_csv("F-1"))).status_code == 401
    assert await numbers() == set()


async def test_limits_too_large_and_rate(
    portal: Portal, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await new_key(portal)
    assert (await post_csv(api, key, b"")).status_code == 400
    monkeypatch.setattr("core.backoffice.web.api.CSV_MAX_BYTES", 10)
    too_large = await post_csv(api, key, invoices_csv("F-1"))
    assert too_large.status_code == 413 and "taille maximale" in too_large.json()["error"]
    monkeypatch.undo()
    monkeypatch.setattr("core.backoffice.web.api.PER_KEY", throttle.Limit("api_test_key", 1, 3600))
    assert (await post_csv(api, key, invoices_csv("F-1"))).status_code == 200
    limited = await post_csv(api, key, invoices_csv("F-2"))
    assert limited.status_code == 429
    assert await numbers() == {"F-1"}


async def test_the_api_needs_no_csrf_token_but_the_back_office_does(
    portal: Portal, api: httpx.AsyncClient
) -> None:
    response = await api.post(
        "/boe/gestion/imports", content=b"x", headers={"content-type": "text/csv"}
    )
    assert response.status_code == 403
