"""End-to-end harness: a real server subprocess, a real SMTP sink, a real Chromium.

Session-wide: one mail sink (`mail_sink`), the PayFiP/TIPI simulator in a subprocess
(`simulator_process`), one seeded SQLite portal served by `portail serve` in a subprocess
(`server`, its base URL), configured like `examples/portail.demo.toml` but paying through that
simulator, and one headless Chromium (`browser`).
Per test: a fresh browser context and page (`page`), once per viewport ("desktop", "phone"), and
`simulator`, to change the simulator's behaviour for the test (put back afterwards).

On failure: a screenshot in `test-results/`, the server's and the simulator's log lines written
during the test in the report, and at the end of the session both logs copied to `test-results/`.

At the end of the session the server's whole log is scanned for the secrets the run handled
(passwords, mailed link tokens, cookie values, card numbers: `e2e/log_secrets.py`); one found
fails the session.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.mail.sink import MailSink
from e2e import log_secrets
from e2e.fault_plugin import install_fault_plugin
from e2e.journeys import (
    COMMUNE,
    PAYMENT_PASSWORD,
    PAYMENT_SCENARIOS,
    Viewport,
    payer_address,
    payment_payer,
)
from e2e.seed import invoices_csv

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "examples" / "portail.demo.toml"
DEMO_SIMULATOR_URL = "http://127.0.0.1:8001"  # where the demo configuration sends payments
VENV_BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
RESULTS = REPO / "test-results"
SERVER_START_TIMEOUT = 30.0
DEFAULT_TIMEOUT_MS = 10_000

# Every scenario that needs an account gets its own payer address per viewport.
SCENARIOS = (
    "activation",
    "login",
    "remember",
    "reset",
    "password",
    "email",
    "sessions",
    "data",
    "delete",
    "news",
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


VIEWPORTS = [
    Viewport("desktop", {"viewport": {"width": 1280, "height": 800}}),
    Viewport(
        "phone",
        {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    ),
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Reports -------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item (`item.rep_call`…), for the fixtures' teardown."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(node: pytest.Item) -> bool:
    return any(
        getattr(node, f"rep_{when}", None) is not None and getattr(node, f"rep_{when}").failed
        for when in ("setup", "call")
    )


# --- Session fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _chromium_available() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found: install it with `apt-get install -y chromium`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"end-to-end tests must run in CI: {reason}", pytrace=False)
    pytest.skip(f"end-to-end tests skipped: {reason}")


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink(host="127.0.0.1", port=0).start()
    try:
        yield sink
    finally:
        sink.stop()


@dataclass
class Server:
    base_url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    # How the server was started, so a test can run `portail …` commands on its database.
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_since(0).splitlines()[-lines:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Simulator(Server):
    """The PayFiP/TIPI simulator, and its control endpoints (`/_simulateur/...`)."""

    knobs_changed: bool = False

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 (the http:// URL of the subprocess)
            f"{self.base_url}/_simulateur/{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"content-type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Set behaviour knobs, e.g. configure(notifications="lose"); the knobs afterwards."""
        self.knobs_changed = True
        return self._call("POST", "comportement", knobs)  # type: ignore[no-any-return]

    def knobs(self) -> dict[str, Any]:
        return self._call("GET", "comportement")  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Default knobs, and every operation forgotten."""
        self._call("POST", "reinitialisation", {})
        self.knobs_changed = False

    def operations(self) -> list[dict[str, Any]]:
        """Every operation (PayFiP and TIPI), each with its count of notifications sent."""
        return self._call("GET", "operations")  # type: ignore[no-any-return]

    def notifications(self) -> list[dict[str, Any]]:
        """Every notification the simulator posted, with its error (None: answered 2xx)."""
        return self._call("GET", "notifications")  # type: ignore[no-any-return]

    def operation(self, refdet: str) -> dict[str, Any]:
        found = [op for op in self.operations() if op["refdet"] == refdet]
        assert len(found) == 1, f"{len(found)} simulator operations for refdet {refdet}"
        return found[0]


def _keep_log(request: pytest.FixtureRequest, server: Server, name: str) -> None:
    """After a failed session: the log in test-results/, and its tail in the report."""
    if not request.session.testsfailed:
        return
    RESULTS.mkdir(exist_ok=True)
    shutil.copyfile(server.log_path, RESULTS / f"e2e-{name}.log")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("-", f"end of the e2e {name} log")
        reporter.write_line(server.log_tail())
        reporter.write_line(f"(whole log: {RESULTS / f'e2e-{name}.log'})")


@pytest.fixture(scope="session")
def seen_secrets() -> log_secrets.Secrets:
    """The secrets the run handled, filled in by `page` and checked by `server_process`."""
    return log_secrets.Secrets()


def _collect_mail(secrets: log_secrets.Secrets, sink: MailSink) -> None:
    for mail in sink.messages:  # the sink keeps the last 1000: collected after every test
        secrets.add_mail(mail.text)
        secrets.add_mail(mail.html)


def _check_log_for_secrets(
    server: Server, secrets: log_secrets.Secrets, request: pytest.FixtureRequest
) -> None:
    """Fail the session if the server's log holds a secret the run handled."""
    secrets.add_constants(log_secrets.e2e_modules())
    counts = {kind: len(values) for kind, values in secrets.by_kind().items()}
    assert counts["password"] and counts["card number"], "nothing to look for: the scan is void"
    findings = log_secrets.scan(server.log_since(0), secrets)
    looked_for = ", ".join(f"{count} {kind}(s)" for kind, count in counts.items())
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():  # session teardown output is captured
            reporter.write_line(f"\ne2e server log scanned for {looked_for}: {len(findings)} found")
    if findings:
        RESULTS.mkdir(exist_ok=True)
        shutil.copyfile(server.log_path, RESULTS / "e2e-server.log")
        listed = ", ".join(str(finding) for finding in findings[:20])
        pytest.fail(
            f"the server's log holds secrets: {listed} (log: {RESULTS / 'e2e-server.log'})",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def simulator_process(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Simulator]:
    """`python -m simulators.payfip` on a free port; the portal's notifications and the
    browser's payment pages go to it over loopback."""
    tmp = tmp_path_factory.mktemp("simulateur")
    port = free_port()
    log_path = tmp / "simulator.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [str(VENV_BIN / "python"), "-m", "simulators.payfip"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    simulator = Simulator(base_url=f"http://127.0.0.1:{port}", log_path=log_path, process=process)
    try:
        _wait_until_up(simulator, "/_simulateur/comportement", "simulator")
        yield simulator
    finally:
        simulator.stop()
        _keep_log(request, simulator, "simulator")


@pytest.fixture
def simulator(simulator_process: Simulator, request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """The simulator, for a test that looks at its operations or changes its knobs: changed
    knobs are put back to their defaults (and operations forgotten) after the test."""
    try:
        yield simulator_process
    finally:
        if _failed(request.node):
            report = getattr(request.node, "rep_call", None) or request.node.rep_setup
            try:
                state = json.dumps(
                    {
                        "knobs": simulator_process.knobs(),
                        "operations": simulator_process.operations(),
                    },
                    indent=2,
                )
            except (urllib.error.URLError, OSError) as exc:
                state = f"could not read it: {exc}"
            report.sections.append(("e2e simulator state", state))
        if simulator_process.knobs_changed:
            simulator_process.reset()


def _seed_payments(tmp: Path) -> list[list[str]]:
    """The seeding commands of the payment journeys' payers (one CSV file per commune)."""
    commands = []
    for commune in sorted({commune for commune, _ in PAYMENT_SCENARIOS.values()}):
        payers = [
            payment_payer(scenario, viewport.name)
            for scenario, (where, _) in PAYMENT_SCENARIOS.items()
            if where == commune
            for viewport in VIEWPORTS
        ]
        path = tmp / f"e2e-factures-{commune}.csv"
        path.write_text(invoices_csv(row for p in payers for row in p.csv_rows()), "utf-8")
        seed = [str(VENV_BIN / "python"), str(REPO / "e2e" / "seed.py"), commune]
        commands.append([*seed, "--invoices", str(path), "--password", PAYMENT_PASSWORD])
    return commands


@pytest.fixture(scope="session")
def server_process(
    mail_sink: MailSink,
    simulator_process: Simulator,
    seen_secrets: log_secrets.Secrets,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("portail")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # The demo configuration, paying through this session's simulator.
    demo_config = DEMO_CONFIG.read_text("utf-8")
    assert DEMO_SIMULATOR_URL in demo_config, f"{DEMO_CONFIG} no longer uses {DEMO_SIMULATOR_URL}"
    config_path = tmp / "portail.toml"
    config_path.write_text(
        demo_config.replace(DEMO_SIMULATOR_URL, simulator_process.base_url), "utf-8"
    )
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'e2e.sqlite'}",
        "PORTAIL_CONFIG": str(config_path),
        "PORTAIL_SECRET_KEY": secrets.token_urlsafe(32),
        "PORTAIL_BASE_URL": base_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mail_sink.port),
        "PORTAIL_OUTBOX_INTERVAL": "0.2",
        # As behind the reverse proxy of a deployment: each test's browser comes from its own
        # address (`X-Forwarded-For`, see `page`), so the whole suite's logins do not add up to
        # one address's limit (60 attempts in 15 minutes) as they would from 127.0.0.1.
        "PORTAIL_TRUSTED_PROXY_HOPS": "1",
        "PYTHONUNBUFFERED": "1",  # the log file is read while the server runs
        # The test-only plugin with failing routes (the error pages' tests), declared in a
        # directory only this portal's processes see; the repository, for its module.
        "PYTHONPATH": os.pathsep.join([str(install_fault_plugin(tmp / "e2e-plugins")), str(REPO)]),
    }
    for name in ("PORTAIL_DEBUG", "PORTAIL_DEMO", "PORTAIL_OUTBOX_SENDER", "SMTP_USER"):
        env.pop(name, None)  # a developer's shell must not change what is tested
    # The temporary directory as working directory: a developer's `.env` is not read.
    setup: dict[str, Any] = {"env": env, "cwd": tmp, "capture_output": True, "timeout": 60}
    addresses = [payer_address(s, v.name) for s in SCENARIOS for v in VIEWPORTS]
    for command in (
        [str(VENV_BIN / "portail"), "seed-demo"],
        [str(VENV_BIN / "python"), str(REPO / "e2e" / "seed.py"), COMMUNE, *addresses],
        *_seed_payments(tmp),
    ):
        done = subprocess.run(command, **setup)  # like check=True, with a readable failure
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            pytest.fail(f"seeding failed: {' '.join(command)}\n{output}", pytrace=False)

    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "portail"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(base_url=base_url, log_path=log_path, process=process, env=env, cwd=tmp)
    try:
        _wait_until_up(server)
        yield server
    finally:
        server.stop()
        _keep_log(request, server, "server")
    _collect_mail(seen_secrets, mail_sink)
    _check_log_for_secrets(server, seen_secrets, request)


def _wait_until_up(server: Server, path: str = "/", name: str = "server") -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            last_error = f"the {name} exited with code {server.process.returncode}"
            break
        try:
            # S310: the URL is the http:// one built above.
            with urllib.request.urlopen(server.base_url + path, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
                last_error = f"GET {path} answered {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.1)
    log = server.log_tail(200)
    print(log, file=sys.stderr)
    pytest.fail(f"the {name} did not start ({last_error}); its log:\n{log}", pytrace=False)


@pytest.fixture(scope="session")
def server(server_process: Server) -> str:
    """The base URL of the running portal, e.g. http://127.0.0.1:54321 (no trailing slash)."""
    return server_process.base_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


# --- Per-test fixtures ---------------------------------------------------------------------


# The back office is used on laptops and tablets: its tests run at these sizes (parametrize
# `viewport` with `indirect=True`, see e2e/backoffice.py).
BACKOFFICE_VIEWPORTS = [
    VIEWPORTS[0],
    Viewport("tablet", {"viewport": {"width": 820, "height": 1180}, "has_touch": True}),
]


@pytest.fixture(params=VIEWPORTS, ids=[v.name for v in VIEWPORTS])
def viewport(request: pytest.FixtureRequest) -> Viewport:
    return request.param  # type: ignore[no-any-return]


# One client address per test (TEST-NET-2 and TEST-NET-3, 2 × 254 addresses).
CLIENT_ADDRESSES = iter(
    f"{net}.{host}" for net in ("198.51.100", "203.0.113") for host in range(1, 255)
)


@pytest.fixture
def page(
    browser: Any,
    viewport: Viewport,
    server_process: Server,
    simulator_process: Simulator,
    mail_sink: MailSink,
    seen_secrets: log_secrets.Secrets,
    request: pytest.FixtureRequest,
) -> Iterator[Any]:
    from playwright.sync_api import expect

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    context = browser.new_context(
        locale="fr-FR",
        extra_http_headers={"X-Forwarded-For": next(CLIENT_ADDRESSES)},
        **viewport.options,
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    log_offset = server_process.log_size()
    simulator_log_offset = simulator_process.log_size()
    try:
        yield page
    finally:
        if _failed(request.node):
            RESULTS.mkdir(exist_ok=True)
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.nodeid)
            try:
                page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True)
            except Exception as exc:  # a screenshot must not hide the failure
                print(f"screenshot failed: {exc}", file=sys.stderr)
            report = getattr(request.node, "rep_call", None) or request.node.rep_setup
            report.sections.append(
                ("e2e server log during the test", server_process.log_since(log_offset))
            )
            report.sections.append(
                (
                    "e2e simulator log during the test",
                    simulator_process.log_since(simulator_log_offset),
                )
            )
            report.sections.append(("e2e page URL", page.url))
        seen_secrets.add_cookies(cookie["value"] for cookie in context.cookies())
        _collect_mail(seen_secrets, mail_sink)
        context.close()
