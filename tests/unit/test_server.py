"""The serving process's app factory (`core.server.serving_app`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from core import server


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
