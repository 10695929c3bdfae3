"""The `portail` command as an operator runs it: a private database, a server in its own process.

For the tests that must not share the test session's engine (installing the wheel, restoring a
backup): they run the real command line in subprocesses, on a database nobody else uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

TEST_ENGINE = os.environ.get("PORTAIL_TEST_ENGINE", "sqlite")
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')
SERVER_START_SECONDS = 60


def free_port() -> int:
    """A loopback port free now, for a server this test starts (the system's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_url(name: str) -> str:
    """The URL of database `name` on the test server (PORTAIL_TEST_DATABASE_URL)."""
    server = urlsplit(os.environ["PORTAIL_TEST_DATABASE_URL"])
    return urlunsplit(server._replace(path=f"/{name}"))


def _admin(statement: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(os.environ["PORTAIL_TEST_DATABASE_URL"])
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@contextlib.contextmanager
def postgres_database(label: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (name prefixed `packaging_`), dropped afterwards."""
    name = f"packaging_{label}_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_database(label: str, directory: Path) -> Iterator[str]:
    """A private database on the engine under test: an SQLite file, or a PostgreSQL database."""
    if TEST_ENGINE == "postgres":
        with postgres_database(label) as url:
            yield url
    else:
        yield f"sqlite:///{directory / f'{label}.sqlite'}"


def command_env(**settings: str) -> dict[str, str]:
    """An environment with only what a server's service unit would set: nothing of this
    checkout (no PYTHONPATH, no PORTAIL_* of the developer's shell) leaks in."""
    env = {name: os.environ[name] for name in ("PATH", "LANG", "HOME") if name in os.environ}
    env.update(settings)
    return env


def run_command(args: list[str], env: Mapping[str, str], cwd: Path) -> str:
    result = subprocess.run(  # noqa: S603 (our own command, fixed arguments)
        args, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@contextlib.contextmanager
def serving(args: list[str], env: Mapping[str, str], cwd: Path, port: int) -> Iterator[str]:
    """Start a server process; yield its base URL once it answers; stop it afterwards."""
    log = cwd / f"server-{port}.log"
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 (our own command, fixed arguments)
            args, env=dict(env), cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            assert process.poll() is None, f"server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"server never answered:\n{log.read_text()}"
            try:
                httpx.get(base_url + "/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_in(client: httpx.Client, slug: str, email: str, password: str) -> None:
    """Sign in through the login form, as a browser would; the client keeps the cookies."""
    form = client.get(f"/{slug}/connexion")
    match = CSRF_FIELD.search(form.text)
    assert match, form.text
    response = client.post(
        f"/{slug}/connexion",
        data={"email": email, "password": password, "_csrf_token": match.group(1)},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/{slug}/"
