"""Run the simulator on a real loopback socket, inside the caller's event loop or a thread.

The portal's tests, end-to-end tests and `portail demo` start it this way; port 0 picks a
free port, and start-up returns only once the socket accepts connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import socket
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass

import uvicorn

from simulators.payfip.app import (
    CONTROL_PATH,
    PAYMENT_PATH,
    SOAP_PATH,
    TIPI_PATH,
    create_simulator_app,
)
from simulators.payfip.state import SimulatorState

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT = 10.0


@dataclass(frozen=True)
class RunningSimulator:
    """Where a running simulator answers, and its state (knobs, operations, notifications)."""

    base_url: str
    state: SimulatorState

    @property
    def soap_url(self) -> str:
        return self.base_url + SOAP_PATH

    @property
    def payment_url(self) -> str:
        return self.base_url + PAYMENT_PATH

    @property
    def tipi_url(self) -> str:
        return self.base_url + TIPI_PATH

    @property
    def control_url(self) -> str:
        return self.base_url + CONTROL_PATH

    def payment_page(self, idop: str) -> str:
        """The page a browser is sent to for this idop."""
        return f"{self.payment_url}?idop={idop}"


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the program embedding it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _wait_until_accepting(
    server: uvicorn.Server, task: asyncio.Task[None], host: str, port: int
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT
    while not server.started:
        if task.done():
            task.result()  # re-raises the start-up error
            raise RuntimeError("the PayFiP simulator stopped during start-up")
        if loop.time() > deadline:
            raise TimeoutError("the PayFiP simulator did not start")
        await asyncio.sleep(0.01)
    _, writer = await asyncio.open_connection(host, port)
    writer.close()
    await writer.wait_closed()


@contextlib.asynccontextmanager
async def running_simulator(
    host: str = "127.0.0.1", port: int = 0, state: SimulatorState | None = None
) -> AsyncIterator[RunningSimulator]:
    """Serve the simulator with uvicorn as a task of the current event loop until exit."""
    state = state if state is not None else SimulatorState()
    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_simulator_app(state),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="payfip-simulator")
    try:
        await _wait_until_accepting(server, task, host, actual_port)
        shown_host = f"[{host}]" if ":" in host else host
        yield RunningSimulator(f"http://{shown_host}:{actual_port}", state)
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=10)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            await state.cancel_pending()
            sock.close()


@contextlib.contextmanager
def simulator_in_thread(
    host: str = "127.0.0.1", port: int = 0, state: SimulatorState | None = None
) -> Iterator[RunningSimulator]:
    """The same, with its own event loop in a thread: for synchronous callers (Playwright, zeep).

    The state is then shared with another thread: read it freely, but set knobs before
    starting a request, not during one.
    """
    started: queue.Queue[tuple[RunningSimulator, asyncio.AbstractEventLoop, asyncio.Event]] = (
        queue.Queue()
    )
    failure: list[BaseException] = []

    async def serve() -> None:
        stop = asyncio.Event()
        async with running_simulator(host, port, state) as simulator:
            started.put((simulator, asyncio.get_running_loop(), stop))
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:
            failure.append(exc)
            logger.exception("PayFiP simulator thread failed")

    thread = threading.Thread(target=run, name="payfip-simulator", daemon=True)
    thread.start()
    while True:
        try:
            simulator, loop, stop = started.get(timeout=0.05)
            break
        except queue.Empty:
            if failure:
                raise RuntimeError("the PayFiP simulator did not start") from failure[0]
            if not thread.is_alive():
                raise RuntimeError("the PayFiP simulator did not start") from None
    try:
        yield simulator
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)
