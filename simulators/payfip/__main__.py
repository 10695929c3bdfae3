"""`python -m simulators.payfip --host 127.0.0.1 --port 8001`: run the simulator alone."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from simulators.payfip.app import create_simulator_app
from simulators.payfip.state import SimulatorState


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.payfip", description="Local PayFiP / TIPI simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--numcli",
        action="append",
        default=None,
        help="a known client number (repeatable); default: every 6-digit number is known",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())  # notification failures show up here
    state = SimulatorState(known_numcli=set(args.numcli) if args.numcli else None)
    base = f"http://{args.host}:{args.port}"
    print(f"PayFiP SOAP endpoint: {base}/tpa/services/securite")
    print(f"Dashboard: {base}/_simulateur")
    app = create_simulator_app(state)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
