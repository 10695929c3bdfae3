"""`pip install .` (not editable) gives a working portal: the wheel is built from a copy of the
checkout, installed in a fresh virtual environment, and its `portail` command migrates, seeds and
serves from an empty directory, where nothing of the checkout can be read.

These are the steps of the Containerfile's build and start (`pip wheel`, `pip install`,
`portail migrate`, `portail serve`), on the engine under test.
"""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.demo_accounts import DEMO_PASSWORD
from tests.integration.portail_process import (
    command_env,
    free_port,
    log_in,
    run_command,
    scratch_database,
    serving,
)

pytestmark = pytest.mark.slow  # about a minute: pip builds the wheel and installs it with its deps

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "plugins", "simulators")
# Top-level directories of the checkout that core/assets maps into the wheel.
ASSETS = ("templates", "static", "examples")
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".*_cache",
    "node_modules", "test-results", "wheels",
)  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built as the Containerfile builds it, from a copy (the checkout stays clean)."""
    source = tmp_path_factory.mktemp("source") / "portail"
    shutil.copytree(REPO, source, symlinks=True, ignore=NOT_SOURCE)
    out = tmp_path_factory.mktemp("wheels")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out)]
    run_command([*pip_wheel, str(source)], os.environ, source)
    (built,) = out.glob("portail_des_factures-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and its dependencies installed."""
    directory = tmp_path_factory.mktemp("venv")
    create = [sys.executable, "-m", "venv", "--without-pip", str(directory)]
    run_command(create, os.environ, directory)
    # This venv's pip installs into the new one: no ensurepip, no byte-compiling (half the time).
    python = str(directory / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-compile"]
    run_command([*pip, str(wheel)], os.environ, directory)
    return directory


def _source_files() -> Iterator[str]:
    """Every file of the packages and of the mapped directories, as named in the wheel."""
    for top in PACKAGES:  # os.walk does not follow core/assets' links: the assets come next
        for folder, dirs, files in os.walk(REPO / top):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if not name.endswith(".pyc"):
                    yield (Path(folder) / name).relative_to(REPO).as_posix()
    for top in ASSETS:
        for path in (REPO / top).rglob("*"):
            if path.is_file():
                yield f"core/assets/{path.relative_to(REPO).as_posix()}"


def test_the_wheel_holds_every_runtime_file_and_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())

    missing = sorted(set(_source_files()) - names)

    assert missing == []
    assert "core/assets/templates/auth/login.html" in names
    assert "core/assets/static/htmx.min.js" in names
    assert "core/piccolo_migrations/core_2026_11_25_0001_initial.py" in names
    assert "plugins/paper_optout/locale/fr/paper_optout.toml" in names
    tops = {name.split("/")[0] for name in names}
    assert tops == {"core", "plugins", "simulators", "portail_des_factures-0.1.0.dist-info"}
    assert not [name for name in names if "/tests/" in name or ".venv" in name]


def test_the_installed_wheel_migrates_seeds_and_serves(venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    portail = str(venv / "bin" / "portail")
    installed = run_command(
        [python, "-c", "import core.demo as d; print(d.__file__); print(d.DEMO_CONFIG)"],
        command_env(),
        tmp_path,
    ).split()
    assert all(Path(path).is_relative_to(venv) for path in installed), installed
    port = free_port()
    with scratch_database("wheel", tmp_path) as database_url:
        env = command_env(
            DATABASE_URL=database_url,
            PORTAIL_CONFIG=installed[1],
            PORTAIL_SECRET_KEY="wheel-test-secret-of-at-least-32-characters",
            PORTAIL_BASE_URL=f"http://127.0.0.1:{port}",
            PORTAIL_DATA_DIR=str(tmp_path / "data"),
            PORTAIL_OUTBOX_SENDER="0",
        )
        assert "Migrations applied." in run_command([portail, "migrate"], env, tmp_path)
        assert "Demo data ready." in run_command([portail, "seed-demo"], env, tmp_path)
        serve = [portail, "serve", "--port", str(port)]
        with serving(serve, env, tmp_path, port) as url, httpx.Client(base_url=url) as web:
            login_page = web.get("/boe/connexion")
            assert login_page.status_code == 200
            assert "Mot de passe" in login_page.text
            assert "Ville de Boé" in login_page.text
            for asset in ("/static/portail.css", "/static/htmx.min.js"):
                assert web.get(asset).status_code == 200, asset

            log_in(web, "boe", "claire.martin@example.org", DEMO_PASSWORD)
            invoices = web.get("/boe/factures")
            assert invoices.status_code == 200
            assert "€" in invoices.text
            # A plugin's own template (paper_optout) and catalogue, from the installed package.
            plugin_page = web.get("/boe/papier")
            assert plugin_page.status_code == 200
            assert "factures au format papier" in plugin_page.text


def test_the_installed_wheel_runs_the_payment_simulator(venv: Path, tmp_path: Path) -> None:
    """`portail demo` pays through the simulator: its templates come with the wheel too."""
    port = free_port()
    simulator = [str(venv / "bin" / "python"), "-m", "simulators.payfip", "--port", str(port)]
    with serving(simulator, command_env(), tmp_path, port) as base_url:
        dashboard = httpx.get(base_url + "/_simulateur")
    assert dashboard.status_code == 200
    assert "Simulateur" in dashboard.text
