"""The serving process's app factory (`core.server.serving_app`)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import server

ROOT = Path(__file__).resolve().parents[2]


class StandIn:
    """An app as the collector sees it: an object it tracks."""


BUILT: list[StandIn] = []


def build_app() -> StandIn:
    """A stand-in factory: `serving_app` only calls it."""
    app = StandIn()
    BUILT.append(app)
    return app


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process's objects stay collectable


def test_the_served_app_is_built_by_the_named_factory_then_startup_is_frozen(
    monkeypatch: pytest.MonkeyPatch, unfrozen: None
) -> None:
    monkeypatch.setenv(server.FACTORY_VARIABLE, f"{__name__}:build_app")
    assert gc.get_freeze_count() == 0
    app = server.serving_app()
    assert app is BUILT[-1] and gc.is_tracked(app)
    # Start-up's objects (here the app itself, as every module) skip later full collections.
    assert gc.get_freeze_count() > 1000
    assert not any(o is app for o in gc.get_objects(generation=2))


# Libraries a web process needs for one rare task each: generating a PDF (fpdf, fontTools, PIL),
# an agent's XLSX export (xlsxwriter), rate limits in Redis (redis, with `REDIS_URL` only).
# Imported at start, they made every serving process about 33 MB larger (bench/pages.py: peak
# RSS 158 MB after 20 logins, 125 MB without them).
LEFT_UNTIL_NEEDED = ("fpdf", "fontTools", "PIL", "xlsxwriter", "redis")


def test_a_serving_process_leaves_rarely_needed_libraries_unimported(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from core.server import serving_app\n"
        "serving_app()\n"
        f"print(','.join(m for m in {LEFT_UNTIL_NEEDED!r} if m in sys.modules))\n"
    )
    env = {
        **os.environ,
        server.FACTORY_VARIABLE: server.APP_FACTORY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portail.sqlite3'}",
        "PORTAIL_CONFIG": str(ROOT / "examples" / "portail.demo.toml"),
        "PORTAIL_SECRET_KEY": "a-test-secret-key-of-at-least-32-characters",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(  # noqa: S603 (a fresh interpreter: this one imported them all)
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
