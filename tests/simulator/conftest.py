"""An in-process simulator per test, reached through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from simulators.payfip import SimulatorState, create_simulator_app


class RecordingNotifier:
    """Stands in for the portal's notification endpoint: no network, every call kept."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, url: str, body: dict[str, str]) -> None:
        self.calls.append((url, dict(body)))


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def state(notifier: RecordingNotifier) -> SimulatorState:
    return SimulatorState(notify=notifier)


@pytest.fixture
async def client(state: SimulatorState) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_simulator_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://simulateur.test") as client:
        yield client
    await state.cancel_pending()
