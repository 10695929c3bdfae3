"""A real `portail serve` process on loopback, its own database (a SQLite file, or a private
PostgreSQL database on the test server with PORTAIL_TEST_ENGINE=postgres), and plain SQL on that
database from outside the server: for the tests that kill or starve the server."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from e2e.seed import InvoiceRow, invoices_csv
from tests.conftest import TEST_ENGINE
from tests.integration.portail_process import free_port

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DEMO_CONFIG = REPO / "examples" / "portail.demo.toml"
DEMO_SIMULATOR_URL = "http://127.0.0.1:8001"
START_TIMEOUT = 30.0


@dataclass
class Database:
    """Plain SQL on the server's database, from the test (never through the server)."""

    url: str

    async def fetch(self, sql: str) -> list[dict[str, Any]]:
        if self.url.startswith("sqlite"):
            with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as conn:
                conn.row_factory = sqlite3.Row
                return [dict(row) for row in conn.execute(sql)]
        conn = await asyncpg.connect(self.url)
        try:
            return [dict(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    async def execute(self, sql: str) -> None:
        if self.url.startswith("sqlite"):
            with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as conn:
                conn.execute(sql)
                conn.commit()
            return
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def value(self, sql: str) -> Any:
        rows = await self.fetch(sql)
        return next(iter(rows[0].values())) if rows else None


@contextlib.asynccontextmanager
async def own_database(tmp: Path, server_url: str | None = None) -> AsyncIterator[str]:
    """A database for one server: a SQLite file, or (postgres engine) a private database on
    the test server, dropped after. `server_url` overrides the PostgreSQL server."""
    if TEST_ENGINE == "sqlite" and server_url is None:
        yield f"sqlite:///{tmp / 'portail.sqlite'}"
        return
    server = server_url or os.environ["PORTAIL_TEST_DATABASE_URL"]
    name = f"trust_prove_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@dataclass
class ServerProcess:
    """`portail serve` on a free loopback port, with the demo configuration paying through
    `simulator_url`; started, killed and restarted by the test."""

    tmp: Path
    database_url: str
    simulator_url: str = "http://127.0.0.1:9"
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        config = self.tmp / "portail.toml"
        if not config.exists():
            text = DEMO_CONFIG.read_text("utf-8").replace(DEMO_SIMULATOR_URL, self.simulator_url)
            config.write_text(text, "utf-8")
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "PORTAIL_CONFIG": str(config),
            "PORTAIL_SECRET_KEY": "a-test-secret-key-of-more-than-32-characters",
            "PORTAIL_BASE_URL": self.base_url,
            "PORTAIL_DATA_DIR": str(self.tmp / "data"),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": "9",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        for name in ("PORTAIL_DEBUG", "PORTAIL_DEMO", "PORTAIL_OUTBOX_SENDER"):
            env.pop(name, None)
        return env

    def run(self, *command: str) -> None:
        """A command of ours with the server's settings (`portail migrate`, `e2e/seed.py`)."""
        done = subprocess.run(  # noqa: S603 - our own commands
            command, env=self.env, cwd=self.tmp, capture_output=True, timeout=300
        )
        assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")

    def seed(self, rows: list[InvoiceRow], password: str) -> None:
        """The commune "boe" with `rows` imported and their payers' accounts active, signing
        in with `password` (e2e/seed.py)."""
        export = self.tmp / "seed-invoices.csv"
        export.write_text(invoices_csv(rows), "utf-8")
        self.run(
            str(VENV_BIN / "python"),
            str(REPO / "e2e" / "seed.py"),
            "boe",
            "--invoices",
            str(export),
            "--password",
            password,
        )

    def start(self) -> None:
        log = (self.tmp / "server.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            [str(VENV_BIN / "portail"), "serve", "--port", str(self.port)]
            + (["--workers", str(self.workers)] if self.workers > 1 else []),
            env=self.env,
            cwd=self.tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                with urllib.request.urlopen(self.base_url + "/", timeout=2):  # noqa: S310
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not start:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash or the OOM killer."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def log(self) -> str:
        path = self.tmp / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def warnings(self) -> str:
        """The log's warnings, errors and exception lines, without tracebacks' frames."""
        path = self.tmp / "server.log"
        if not path.exists():
            return ""
        lines = path.read_text(errors="replace").splitlines()
        marks = ("WARNING", "ERROR", "Exception", "Error:", "Error(")
        return "\n".join(line for line in lines if any(mark in line for mark in marks))[-6000:]


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of the test's own (initdb in a temporary directory, a free port),
    run as the `postgres` system user: it may be stopped and started at will, unlike the
    shared server."""

    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        done = subprocess.run(  # noqa: S603 - our own commands
            ["runuser", "-u", "postgres", "--", *command],  # noqa: S607 - util-linux
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")

    def init(self) -> None:
        shutil.chown(self.directory, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.directory / "data"), "-U", "postgres",
            "--auth=trust", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-l",
            str(self.directory / "postgres.log"), "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop"
        )


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A private cluster, started; stopped and its files removed after. Its directory is
    under /tmp, where the `postgres` user may go (pytest's are the test runner's only)."""
    cluster = PrivateCluster(Path(tempfile.mkdtemp(prefix="trust-prove-pg-")))
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(AssertionError):
            cluster.stop()
        shutil.rmtree(cluster.directory, ignore_errors=True)
