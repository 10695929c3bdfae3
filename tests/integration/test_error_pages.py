"""An unhandled error answers the French error page (500) with a reference the log carries; a
database that cannot be reached answers 503; never a stack trace, except in debug mode."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from litestar import get
from litestar.exceptions import InternalServerException
from piccolo.engine.postgres import PostgresEngine

from core import db
from core.app import create_app
from core.communes.tables import Commune
from core.config import PortalConfig
from core.hookspecs import hookimpl
from core.settings import Settings
from tests.integration.conftest import serve
from tests.integration.test_outbox import closed_port

REFERENCE = re.compile(r"référence <strong>([0-9A-F]{8})</strong>")


@get("/_test/boum", sync_to_thread=False)
def explode() -> str:
    raise RuntimeError("secret detail of the failure")


@get("/_test/interne", sync_to_thread=False)
def internal() -> str:
    raise InternalServerException("secret detail of the failure")


@get("/_test/base")
async def count_communes() -> str:
    return str(await Commune.count())


class FailingRoutes:
    """A test-only plugin: routes that fail, as a bug or a database outage would."""

    @hookimpl
    def register_routes(self) -> list[Any]:
        return [explode, internal, count_communes]


@contextlib.asynccontextmanager
async def failing_portal(settings: Settings, portal_config: PortalConfig) -> AsyncIterator[Any]:
    app = create_app(settings, config=portal_config, extra_plugins=[("failing", FailingRoutes())])
    async with serve(app) as client:
        yield client


@pytest.fixture
def app_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """What `core.app` logs. Litestar's logging set-up replaces the root logger's handlers
    (pytest's among them) when the app starts, so the capture listens on `core.app` itself."""
    logger = logging.getLogger("core.app")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.ERROR, logger="core.app"):
            yield caplog
    finally:
        logger.removeHandler(caplog.handler)


@pytest.fixture
def production(settings: Settings) -> Settings:
    return replace(settings, debug=False)


@contextlib.asynccontextmanager
async def database_down() -> AsyncIterator[None]:
    """Make the running engine point at a database that cannot be reached, then restore it."""
    engine = db.current_engine()
    if isinstance(engine, PostgresEngine):
        dsn = engine.config["dsn"]
        await engine.close_connection_pool()
        parts = urlsplit(dsn)
        closed = parts._replace(netloc=f"{parts.username}@127.0.0.1:{closed_port()}")
        engine.config["dsn"] = urlunsplit(closed)
        try:
            yield
        finally:
            engine.config["dsn"] = dsn
            await db.open_database(engine)
    else:
        path = engine.path  # type: ignore[attr-defined]
        await engine.close_readers()  # type: ignore[attr-defined]
        engine.path = "/nonexistent-directory/portail.sqlite"  # type: ignore[attr-defined]
        try:
            yield
        finally:
            engine.path = path  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/_test/boum", "/_test/interne"])
async def test_an_unhandled_error_answers_the_french_page_with_a_reference(
    clean_db: db.Engine,
    production: Settings,
    portal_config: PortalConfig,
    app_log: pytest.LogCaptureFixture,
    path: str,
) -> None:
    async with failing_portal(production, portal_config) as client:
        response = await client.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Une erreur est survenue" in response.text
    assert "service facturation" in response.text
    match = REFERENCE.search(response.text)
    assert match, response.text
    reference = match.group(1)
    assert reference in app_log.text
    assert "secret detail of the failure" in app_log.text  # the log has the details...
    assert "secret detail" not in response.text  # ...the page does not
    assert "Traceback" not in response.text
    assert '<main id="contenu"' in response.text  # the same layout as every page


async def test_each_error_has_its_own_reference(
    clean_db: db.Engine, production: Settings, portal_config: PortalConfig
) -> None:
    async with failing_portal(production, portal_config) as client:
        pages = [(await client.get("/_test/boum")).text for _ in range(2)]
    references = {REFERENCE.search(page).group(1) for page in pages}  # type: ignore[union-attr]
    assert len(references) == 2


async def test_htmx_gets_the_same_status_and_a_fragment(
    clean_db: db.Engine, production: Settings, portal_config: PortalConfig
) -> None:
    async with failing_portal(production, portal_config) as client:
        response = await client.get("/_test/boum", headers={"hx-request": "true"})
    assert response.status_code == 500
    assert "<html" not in response.text
    assert "Une erreur est survenue" in response.text
    assert REFERENCE.search(response.text)


async def test_a_database_that_is_down_answers_503(
    clean_db: db.Engine,
    production: Settings,
    portal_config: PortalConfig,
    app_log: pytest.LogCaptureFixture,
) -> None:
    async with failing_portal(production, portal_config) as client:
        assert (await client.get("/_test/base")).status_code == 200
        async with database_down():
            response = await client.get("/_test/base")
            htmx = await client.get("/_test/base", headers={"hx-request": "true"})
        assert (await client.get("/_test/base")).status_code == 200  # and back
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert "Le portail est momentanément indisponible" in response.text
    assert '<main id="contenu"' in response.text
    assert "Traceback" not in response.text
    assert htmx.status_code == 503
    assert "<html" not in htmx.text
    assert "momentanément indisponible" in htmx.text
    reference = REFERENCE.search(response.text)
    assert reference and f"Database unavailable (reference {reference.group(1)})" in app_log.text


async def test_expected_errors_keep_their_own_answers(
    clean_db: db.Engine, production: Settings, portal_config: PortalConfig
) -> None:
    async with failing_portal(production, portal_config) as client:
        missing = await client.get("/_test/absent")
        wrong_method = await client.post("/_test/boum", headers={"x-csrftoken": "x"})
    assert missing.status_code == 404
    assert "Page introuvable" in missing.text
    assert wrong_method.status_code in (403, 405)


async def test_debug_mode_keeps_litestar_s_debug_page(
    clean_db: db.Engine, settings: Settings, portal_config: PortalConfig
) -> None:
    assert settings.debug
    async with failing_portal(settings, portal_config) as client:
        response = await client.get("/_test/boum", headers={"accept": "text/html"})
    assert response.status_code == 500
    assert "Une erreur est survenue" not in response.text
    assert "secret detail of the failure" in response.text
