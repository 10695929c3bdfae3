"""The Containerfile and compose.yaml say what they mean: a multi-stage build, a user without
privileges, a health check, `portail migrate` then `portail serve`, and only settings that exist.

No container engine runs in the test suite; tests/integration/test_wheel.py runs the image's
steps (build the wheel, install it, migrate, serve) in a fresh virtual environment.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.cli import build_parser
from core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {f.metadata["env"] for f in fields(Settings)}
NOT_PORTAIL_SETTINGS = {"PATH", "PYTHONUNBUFFERED"}
# The image's settings are the portal's, or those of the postgres image (its own documented ones).
POSTGRES_SETTINGS = {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    text = (REPO / "Containerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def portail_commands(command: str) -> list[list[str]]:
    """The arguments of each `portail …` in a shell command line (`exec` stripped)."""
    invocations = []
    for part in re.split(r"&&|;", command):
        words = shlex.split(part)
        if words[:1] == ["exec"]:
            words = words[1:]
        if words[:1] == ["portail"]:
            invocations.append(words[1:])
    return invocations


def assert_portail_accepts(args: list[str]) -> None:
    build_parser().parse_args(args)  # exits (SystemExit) on an unknown command or option


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))


def test_the_image_is_built_in_two_stages_on_python_3_11_slim() -> None:
    steps = instructions()
    froms = [rest for keyword, rest in steps if keyword == "FROM"]
    assert len(froms) == 2
    assert ("ARG", "PYTHON_IMAGE=docker.io/library/python:3.11-slim") in steps
    assert all(rest.startswith("${PYTHON_IMAGE}") for rest in froms)
    build_stage = froms[0].split()[-1]
    assert any(f"from={build_stage}" in rest for keyword, rest in final_stage())


def test_the_image_runs_as_a_user_it_creates_without_privileges() -> None:
    stage = final_stage()
    (user,) = [rest for keyword, rest in stage if keyword == "USER"]
    assert user not in {"root", "0"}
    creates_user = [rest for keyword, rest in stage if keyword == "RUN" and "useradd" in rest]
    assert creates_user and creates_user[0].endswith(f" {user}")
    keywords = [keyword for keyword, _ in stage]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


def test_the_image_migrates_then_serves_on_every_interface_with_a_health_check() -> None:
    stage = dict(final_stage())
    (shell, flag, command) = json.loads(stage["CMD"])
    assert (shell, flag) == ("sh", "-c")
    invocations = portail_commands(command)
    assert invocations == [["migrate"], ["serve", "--host", "0.0.0.0", "--port", "8000"]]  # noqa: S104
    for args in invocations:
        assert_portail_accepts(args)
    assert stage["EXPOSE"] == "8000"
    assert "127.0.0.1:8000" in stage["HEALTHCHECK"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["portail"] == "core.cli:main"


def test_the_image_and_compose_name_only_settings_the_portal_reads(
    compose: dict[str, Any],
) -> None:
    image_env = dict(final_stage())["ENV"]
    names = set(re.findall(r"([A-Z_]+)=", image_env))
    for service in compose["services"].values():
        names |= set(service.get("environment", {}))
    assert names - SETTINGS - NOT_PORTAIL_SETTINGS - POSTGRES_SETTINGS == set()
    assert {"DATABASE_URL", "PORTAIL_SECRET_KEY", "PORTAIL_CONFIG"} <= names


def test_compose_migrates_once_before_the_portal_on_postgresql(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["db"]["image"].startswith("docker.io/library/postgres:")
    assert "healthcheck" in services["db"]
    portal, migrate = services["portail"], services["migrate"]
    assert portal["build"]["dockerfile"] == "Containerfile"
    assert (REPO / portal["build"]["dockerfile"]).is_file()
    assert migrate["command"] == ["portail", "migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert portal["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert portal["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "@db:5432/" in portal["environment"]["DATABASE_URL"]
    config_path = portal["environment"]["PORTAIL_CONFIG"]
    assert any(volume.endswith(f":{config_path}:ro") for volume in portal["volumes"])
    assert "127.0.0.1:8000:8000" in portal["ports"]
    for service in services.values():
        if isinstance(service.get("command"), list) and service["command"][0] == "portail":
            assert_portail_accepts(service["command"][1:])


def test_optional_services_stay_off_unless_asked(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["seed-demo"]["profiles"] == ["demo"]
    assert services["seed-demo"]["command"] == ["portail", "seed-demo"]
    assert services["redis"]["profiles"] == ["redis"]
    assert services["portail"]["depends_on"]["seed-demo"]["required"] is False


def test_the_build_context_leaves_out_what_the_wheel_must_not_hold() -> None:
    ignored = set((REPO / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".git", ".venv", "var", "tests", "e2e", ".env"} <= ignored
    assert not {"core", "plugins", "simulators", "templates", "static", "examples"} & ignored
