"""`portail agent create`: agents of a commune, and superviseurs (only from here)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

import core.piccolo_conf as piccolo_conf
from core import db
from core.backoffice.command import execute
from core.backoffice.identity import list_agents
from core.backoffice.journal import list_entries
from core.backoffice.tables import Agent
from core.cli import main
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from tests.integration.backoffice.conftest import last_link_to

TOML = """
[[communes]]
slug = "boe"
name = "Ville de Boé"
[communes.contact]
email = "facturation@boe.test"
"""


@pytest.fixture
def command_env(
    clean_db: db.Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Environment for `portail agent`, in a directory without `.env`; the command installs its
    own engine, so the tests' engine is put back afterwards (as tests/integration/test_import)."""
    (tmp_path / "portail.toml").write_text(TOML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "DATABASE_URL": database_url,
        "PORTAIL_CONFIG": str(tmp_path / "portail.toml"),
        "PORTAIL_SECRET_KEY": "test-secret-key-long-enough-for-32-chars",
        "PORTAIL_DATA_DIR": str(tmp_path / "data"),
        "PORTAIL_BASE_URL": "http://portail.test",
    }.items():
        monkeypatch.setenv(name, value)
    yield tmp_path
    piccolo_conf.DB = clean_db
    for table in db.all_tables():
        table._meta.db = clean_db
    db._current = clean_db


def test_command_creates_agents_and_superviseurs(
    command_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create = ["agent", "create", "--email", "Anne@Boe.test"]
    assert main([*create, "--commune", "boe", "--role", "administrateur", "--name", "Anne"]) == 0
    assert capsys.readouterr().out.startswith(
        "Agent anne@boe.test créé (administrateur) pour boe. Le lien pour choisir son mot de passe"
    )
    assert main([*create, "--commune", "boe", "--role", "lecteur"]) == 2  # the row exists
    assert "email : Un agent utilise déjà cette adresse" in capsys.readouterr().err

    assert main(["agent", "create", "--superviseur", "--email", "chef@portail.test"]) == 0
    assert capsys.readouterr().out.startswith("Superviseur chef@portail.test créé.")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--commune", "nulle-part", "--role", "lecteur"], "Commune « nulle-part » inconnue"),
        (["--role", "lecteur"], "Indiquez la commune avec --commune, ou --superviseur."),
        (["--commune", "boe"], "Indiquez le rôle avec --role"),
        (["--superviseur", "--role", "lecteur"], "Un superviseur n’a pas d’autre rôle"),
    ],
)
def test_command_refusals(
    command_env: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["agent", "create", "--email", "a@boe.test", *arguments]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "typed", ["someone@example.com/../../etc/passwd", "anne martin@boe.test", "anne@", "anne@boe"]
)
def test_command_refuses_what_is_not_an_address(
    command_env: Path, capsys: pytest.CaptureFixture[str], typed: str
) -> None:
    create = ["agent", "create", "--commune", "boe", "--role", "lecteur", "--email", typed]
    assert main(create) == 2
    assert "email : Veuillez saisir une adresse de messagerie valide" in capsys.readouterr().err


def test_superviseur_is_no_role_of_a_commune(command_env: Path) -> None:
    with pytest.raises(SystemExit):  # argparse: not a choice
        main(["agent", "create", "--commune", "boe", "--email", "a@b.fr", "--role", "superviseur"])


def namespace(**values: object) -> argparse.Namespace:
    defaults: dict[str, object] = {"commune": None, "superviseur": False, "role": None, "name": ""}
    return argparse.Namespace(**{**defaults, **values})


async def test_execute_queues_the_invitation_and_journals(
    communes: dict[str, CommuneContext], mailer: Mailer, capsys: pytest.CaptureFixture[str]
) -> None:
    boe = communes["boe"]
    args = namespace(commune="boe", email="a@boe.test", role="gestionnaire", name="Anne")
    assert await execute(args, communes, mailer) == 0
    [agent] = await list_agents(boe.id)
    assert (agent.email, agent.role, agent.display_name) == ("a@boe.test", "gestionnaire", "Anne")
    assert (await last_link_to("a@boe.test")).startswith("/boe/gestion/mot-de-passe/")
    [entry] = (await list_entries(boe.id)).entries
    assert (entry.action, entry.actor_label, entry.agent_id) == (
        "agents.create",
        "Ligne de commande",
        None,
    )
    # A superviseur's link leads to the first configured commune unless --commune says.
    args = namespace(superviseur=True, email="chef@portail.test", commune="aure")
    assert await execute(args, communes, mailer) == 0
    assert (await last_link_to("chef@portail.test")).startswith("/aure/gestion/mot-de-passe/")
    assert await Agent.count().where(Agent.commune.is_null()) == 1
    capsys.readouterr()
