"""A local PayFiP / TIPI simulator speaking the real protocol (demo and tests only).

from simulators.payfip import SimulatorState, create_simulator_app, running_simulator

async with running_simulator() as simulator:
    simulator.soap_url  # give this to the PayFiP client
"""

from simulators.payfip.app import ACCEPTED_CARD, REFUSED_CARD, create_simulator_app
from simulators.payfip.server import RunningSimulator, running_simulator, simulator_in_thread
from simulators.payfip.state import (
    NotificationRecord,
    Notifier,
    Operation,
    QueuedFault,
    SimulatorState,
    asgi_notifier,
)

__all__ = [
    "ACCEPTED_CARD",
    "REFUSED_CARD",
    "NotificationRecord",
    "Notifier",
    "Operation",
    "QueuedFault",
    "RunningSimulator",
    "SimulatorState",
    "asgi_notifier",
    "create_simulator_app",
    "running_simulator",
    "simulator_in_thread",
]
