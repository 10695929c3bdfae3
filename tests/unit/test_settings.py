"""Process settings from the environment, with a `.env` file filling in what it lacks."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from pathlib import Path

import pytest

from core.settings import Settings, documented_settings, read_dotenv

SECRET = {"PORTAIL_SECRET_KEY": "a-secret-of-at-least-32-characters"}


@pytest.fixture
def no_dotenv(tmp_path: Path) -> Path:
    return tmp_path / "absent.env"


def test_defaults_with_a_secret(no_dotenv: Path) -> None:
    settings = Settings.from_env(SECRET, dotenv=no_dotenv)
    assert settings == Settings(secret_key="a-secret-of-at-least-32-characters")
    assert settings.database_url.startswith("sqlite:///") and settings.smtp_port == 25
    assert settings.debug is False and settings.run_outbox_sender is True


def test_variables_are_read_and_converted(no_dotenv: Path) -> None:
    settings = Settings.from_env(
        {
            **SECRET,
            "DATABASE_URL": "postgresql://portail@db:5432/portail",
            "PORTAIL_CONFIG": "/etc/portail/portail.toml",
            "PORTAIL_BASE_URL": "https://factures.example.org",
            "PORTAIL_DEBUG": "0",
            "PORTAIL_TRUST_PROXY_HEADERS": "yes",
            "PORTAIL_TRACE_PLUGINS": "on",
            "SMTP_HOST": "smtp.example.org",
            "SMTP_PORT": "587",
            "SMTP_STARTTLS": "TRUE",
            "SMTP_SSL": "",
            "PORTAIL_OUTBOX_INTERVAL": "0.5",
            "PORTAIL_OUTBOX_SENDER": "false",
            "MAIL_FROM": "Mairie <factures@example.org>",
        },
        dotenv=no_dotenv,
    )
    assert settings.database_url == "postgresql://portail@db:5432/portail"
    assert settings.config_path == "/etc/portail/portail.toml"
    assert settings.base_url == "https://factures.example.org"
    assert settings.debug is False
    assert settings.trust_proxy_headers is True and settings.trace_plugins is True
    assert settings.smtp_host == "smtp.example.org" and settings.smtp_port == 587
    assert settings.smtp_starttls is True and settings.smtp_ssl is False
    assert settings.outbox_interval == 0.5 and settings.run_outbox_sender is False
    assert settings.mail_from == "Mairie <factures@example.org>"


def test_os_environ_is_the_default_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("PORTAIL_SECRET_KEY", "from-os-environ-at-least-32-characters")
    monkeypatch.setenv("SMTP_PORT", "2525")
    settings = Settings.from_env()
    assert (
        settings.secret_key == "from-os-environ-at-least-32-characters"
        and settings.smtp_port == 2525
    )


def test_a_dotenv_file_fills_in_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "# local settings\n"
        "\n"
        "PORTAIL_SECRET_KEY = 'from-dotenv-at-least-32-characters'\n"
        'SMTP_HOST="mail.dotenv.test"\n'
        "SMTP_PORT=2525\n"
        "not a setting line\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"SMTP_PORT": "1025"})
    assert settings.secret_key == "from-dotenv-at-least-32-characters"  # quotes and spaces removed
    assert settings.smtp_host == "mail.dotenv.test"
    assert settings.smtp_port == 1025  # the real environment wins


def test_an_explicit_dotenv_path(tmp_path: Path) -> None:
    dotenv = tmp_path / "portail.env"
    dotenv.write_text(
        "PORTAIL_SECRET_KEY=explicit-key-of-at-least-32-chars\nPORTAIL_DEMO=1\n", encoding="utf-8"
    )
    settings = Settings.from_env({}, dotenv=dotenv)
    assert settings.secret_key == "explicit-key-of-at-least-32-chars" and settings.demo is True


def test_read_dotenv_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# A=1\n\nB = 2\nC='x=y'\nnonsense\n", encoding="utf-8")
    assert read_dotenv(dotenv) == [("B", "2"), ("C", "x=y")]
    assert read_dotenv(tmp_path / "absent") == []


@pytest.mark.parametrize("variable", ["PORTAIL_DEBUG", "SMTP_SSL", "PORTAIL_OUTBOX_SENDER"])
def test_a_bad_boolean_names_the_variable(variable: str, no_dotenv: Path) -> None:
    with pytest.raises(ValueError, match=rf"^{variable}: expected a boolean.*'maybe'"):
        Settings.from_env({**SECRET, variable: "maybe"}, dotenv=no_dotenv)


def test_a_bad_integer_names_the_variable(no_dotenv: Path) -> None:
    with pytest.raises(ValueError, match=r"^SMTP_PORT: expected int, got 'vingt-cinq'"):
        Settings.from_env({**SECRET, "SMTP_PORT": "vingt-cinq"}, dotenv=no_dotenv)


def test_a_bad_float_names_the_variable(no_dotenv: Path) -> None:
    with pytest.raises(ValueError, match=r"^PORTAIL_OUTBOX_INTERVAL: expected float"):
        Settings.from_env({**SECRET, "PORTAIL_OUTBOX_INTERVAL": "5s"}, dotenv=no_dotenv)


def test_a_missing_secret_key_is_refused(no_dotenv: Path) -> None:
    with pytest.raises(ValueError, match="PORTAIL_SECRET_KEY must be set"):
        Settings.from_env({}, dotenv=no_dotenv)
    with pytest.raises(ValueError, match="PORTAIL_SECRET_KEY must be set"):
        Settings.from_env({"PORTAIL_SECRET_KEY": ""}, dotenv=no_dotenv)


@pytest.mark.parametrize("mode", [None, "PORTAIL_DEBUG", "PORTAIL_DEMO"])
def test_a_secret_key_shorter_than_32_characters_is_refused(
    mode: str | None, no_dotenv: Path
) -> None:
    """Even in debug or demo mode: a key that is given is used, so it must be long enough."""
    env = {mode: "1"} if mode else {}
    with pytest.raises(ValueError, match=r"PORTAIL_SECRET_KEY is too short \(31 characters\)"):
        Settings.from_env({**env, "PORTAIL_SECRET_KEY": "s" * 31}, dotenv=no_dotenv)
    assert Settings.from_env({**env, "PORTAIL_SECRET_KEY": "s" * 32}, dotenv=no_dotenv)


@pytest.mark.parametrize("mode", ["PORTAIL_DEBUG", "PORTAIL_DEMO"])
def test_debug_or_demo_get_a_random_secret_key(mode: str, no_dotenv: Path) -> None:
    first = Settings.from_env({mode: "1"}, dotenv=no_dotenv)
    second = Settings.from_env({mode: "1"}, dotenv=no_dotenv)
    assert len(first.secret_key) >= 32
    assert first.secret_key != second.secret_key


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:5432/test", True),
        ("postgres://portail@db/portail", True),
        ("sqlite:///var/portail.sqlite", False),
        ("sqlite:///postgresql.sqlite", False),
    ],
)
def test_is_postgres(url: str, expected: bool) -> None:
    assert Settings(database_url=url).is_postgres is expected


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://factures.example.org", True),
        ("http://127.0.0.1:8000", False),
        ("http://https.example.org", False),
    ],
)
def test_secure_cookies_follow_the_public_url(base_url: str, expected: bool) -> None:
    assert Settings(base_url=base_url).secure_cookies is expected


def test_every_setting_is_documented() -> None:
    documented = documented_settings()
    assert len(documented) == len(fields(Settings))
    variables = [variable for variable, _, _ in documented]
    assert len(set(variables)) == len(variables)  # one variable per setting
    for variable, default, help_text in documented:
        assert variable.isupper() and help_text.strip(), variable
        assert default is not None


def test_the_session_inactivity_timeout(no_dotenv: Path) -> None:
    secret = {"PORTAIL_SECRET_KEY": "s" * 40}
    assert Settings.from_env(secret, no_dotenv).session_idle_timeout == dt.timedelta(minutes=30)
    shorter = Settings.from_env({**secret, "PORTAIL_SESSION_IDLE_MINUTES": "10"}, no_dotenv)
    assert shorter.session_idle_timeout == dt.timedelta(minutes=10)
    none = Settings.from_env({**secret, "PORTAIL_SESSION_IDLE_MINUTES": "0"}, no_dotenv)
    assert none.session_idle_timeout is None
    with pytest.raises(ValueError, match="PORTAIL_SESSION_IDLE_MINUTES"):
        Settings.from_env({**secret, "PORTAIL_SESSION_IDLE_MINUTES": "-5"}, no_dotenv)
