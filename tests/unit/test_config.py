"""The communes' TOML configuration: every problem is refused with a message naming its key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from core.config import ConfigError, PortalConfig, load_config, parse_config
from core.plugins import collect_plugin_settings, get_plugin_manager

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = PROJECT_ROOT / "examples" / "portail.demo.toml"
KNOWN = collect_plugin_settings(get_plugin_manager(load_entry_points=False))

BASE: dict[str, Any] = {
    "communes": [
        {
            "slug": "boe",
            "name": "Ville de Boé",
            "link_code": "M470310001",
            "contact": {"email": "facturation@boe.test"},
            "regies": [{"code": "CANT", "name": "Cantine", "client_number": "004200"}],
            "plugins": {"payfip": {"saisie": "T"}},
        },
        {
            "slug": "aure",
            "name": "Mairie d'Aure",
            "link_code": "X990030101",
            "contact": {"email": "regie@aure.test"},
        },
    ]
}

MINIMAL_TOML = """\
[[communes]]
slug = "boe"
name = "Ville de Boé"

[communes.contact]
email = "facturation@boe.test"
"""


def parse(change: Callable[[dict[str, Any]], object] = lambda raw: None) -> PortalConfig:
    """BASE after `change(raw)`, parsed with the built-in plugins known."""
    raw = copy.deepcopy(BASE)
    change(raw)
    return parse_config(raw, KNOWN)


def boe(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["communes"][0]  # type: ignore[no-any-return]


def refused(change: Callable[[dict[str, Any]], object]) -> str:
    with pytest.raises(ConfigError) as excinfo:
        parse(change)
    return str(excinfo.value)


# --- Files ---------------------------------------------------------------------------------


def test_a_minimal_file_loads_with_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "portail.toml"
    path.write_text(MINIMAL_TOML, encoding="utf-8")
    config = load_config(path, KNOWN)
    commune = config.commune("boe")
    assert commune is not None and config.title == "Portail des factures"
    assert commune.password_min_length == 12 and commune.branding.colour == "#000091"
    assert commune.regies == [] and commune.plugins == {} and commune.enabled_plugins() == set()


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="file not found") as excinfo:
        load_config(path)
    assert str(path) in str(excinfo.value) and "PORTAIL_CONFIG" in str(excinfo.value)


def test_bad_toml_is_refused_with_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "portail.toml"
    path.write_text(MINIMAL_TOML + 'welcome = "pas fermé\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as excinfo:
        load_config(path)
    assert str(path) in str(excinfo.value) and "line 7" in str(excinfo.value)


def test_the_demo_configuration_is_valid() -> None:
    config = load_config(DEMO_CONFIG, KNOWN)
    assert [c.slug for c in config.communes] == ["boe", "aure"]
    assert config.commune("boe").enabled_plugins() == {"payfip", "paper_optout", "prelevement"}
    assert config.commune("aure").enabled_plugins() == {"tipi_legacy"}
    assert config.commune_by_link_code("X990030101").slug == "aure"


# --- Keys ----------------------------------------------------------------------------------


def test_an_unknown_top_level_key_is_named() -> None:
    message = refused(lambda raw: raw.update(titre="Portail"))
    assert "titre: unknown key" in message


def test_a_bad_plugin_setting_is_named_by_its_full_key() -> None:
    message = refused(lambda raw: raw["communes"][0].update(plugins={"payfip": {"saisie": "Z"}}))
    assert "communes[0].plugins.payfip.saisie: Invalid enum value 'Z'" in message


def test_an_unknown_commune_key_is_named() -> None:
    message = refused(lambda raw: boe(raw).update(adresse="1 place de la Mairie"))
    assert "communes[0]" in message and "adresse" in message


def test_a_missing_required_key_is_named() -> None:
    message = refused(lambda raw: boe(raw).pop("contact"))
    assert "communes[0]" in message and "contact" in message


def test_a_value_of_the_wrong_type_is_named() -> None:
    message = refused(lambda raw: boe(raw).update(password_min_length="douze"))
    assert "communes[0].password_min_length" in message and "int" in message


def test_at_least_one_commune_is_required() -> None:
    assert "communes: at least one commune is required" in refused(
        lambda raw: raw.update(communes=[])
    )


@pytest.mark.parametrize("slug", ["Boe", "boé", "-boe", "b_oe", "", "x" * 41])
def test_a_bad_slug_is_refused(slug: str) -> None:
    message = refused(lambda raw: boe(raw).update(slug=slug))
    assert f"communes[0].slug: {slug!r} must be lower-case letters" in message


@pytest.mark.parametrize("slug", ["boe", "saint-pierre-2", "x" * 40, "47"])
def test_good_slugs_are_accepted(slug: str) -> None:
    assert parse(lambda raw: boe(raw).update(slug=slug)).communes[0].slug == slug


def test_a_duplicate_slug_is_refused() -> None:
    message = refused(lambda raw: raw["communes"][1].update(slug="boe"))
    assert "communes[1].slug: 'boe' is used twice" in message


def test_a_duplicate_link_code_is_refused() -> None:
    message = refused(lambda raw: raw["communes"][1].update(link_code="M470310001"))
    assert "communes[1].link_code: 'M470310001' is used twice" in message


def test_communes_without_link_code_do_not_clash() -> None:
    def no_codes(raw: dict[str, Any]) -> None:
        for commune in raw["communes"]:
            commune.pop("link_code")

    config = parse(no_codes)
    assert config.commune_by_link_code("") is None


def test_an_empty_name_is_refused() -> None:
    assert "communes[0].name: must not be empty" in refused(lambda raw: boe(raw).update(name="  "))


def test_a_contact_email_without_at_is_refused() -> None:
    message = refused(lambda raw: boe(raw)["contact"].update(email="facturation.boe.test"))
    assert "communes[0].contact.email: 'facturation.boe.test' is not an e-mail address" in message


@pytest.mark.parametrize("length", [7, 65, 0, -1])
def test_password_min_length_out_of_range_is_refused(length: int) -> None:
    message = refused(lambda raw: boe(raw).update(password_min_length=length))
    assert f"communes[0].password_min_length: {length} must be between 8 and 64" in message


@pytest.mark.parametrize("length", [8, 64])
def test_password_min_length_bounds_are_accepted(length: int) -> None:
    config = parse(lambda raw: boe(raw).update(password_min_length=length))
    assert config.communes[0].password_min_length == length


@pytest.mark.parametrize("colour", ["blue", "#12345", "#1234567", "#gggggg", "1e3a8a"])
def test_a_bad_colour_is_refused(colour: str) -> None:
    message = refused(lambda raw: boe(raw).update(branding={"colour": colour}))
    assert f"communes[0].branding.colour: {colour!r} must look like #1e3a8a" in message


def test_a_good_colour_is_accepted() -> None:
    config = parse(lambda raw: boe(raw).update(branding={"colour": "#1E3A8a", "logo": "/x.png"}))
    assert config.communes[0].branding.colour == "#1E3A8a"


def test_a_duplicate_regie_code_is_refused() -> None:
    def twice(raw: dict[str, Any]) -> None:
        boe(raw)["regies"].append({"code": "CANT", "name": "Cantine bis"})

    assert "communes[0].regies[1].code: 'CANT' is used twice" in refused(twice)


def test_an_empty_regie_code_is_refused() -> None:
    message = refused(lambda raw: boe(raw)["regies"][0].update(code=" "))
    assert "communes[0].regies[0].code: must not be empty" in message


@pytest.mark.parametrize("number", ["42", "0042000", "00420A", "00 420"])
def test_a_client_number_must_be_6_digits(number: str) -> None:
    message = refused(lambda raw: boe(raw)["regies"][0].update(client_number=number))
    assert "communes[0].regies[0].client_number: must be 6 digits" in message


def test_a_regie_has_a_client_number() -> None:
    assert parse().communes[0].regies[0].client_number == "004200"
    assert parse().communes[1].regies == []


def old_client_number_key(value: str, *, also_new: str | None = None) -> dict[str, Any]:
    """BASE with boe's régie under the deprecated key (and the new one, if given)."""
    raw = copy.deepcopy(BASE)
    regie = boe(raw)["regies"][0]
    del regie["client_number"]
    regie["payfip_client_number"] = value
    if also_new is not None:
        regie["client_number"] = also_new
    return raw


DEPRECATED = "communes[0].regies[0].payfip_client_number is deprecated: rename it client_number"


def test_the_old_client_number_key_is_read_with_a_deprecation_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = old_client_number_key("004200")
    with caplog.at_level("WARNING", logger="core.config"):
        config = parse_config(raw, KNOWN, source="portail.toml")
    assert config.communes[0].regies[0].client_number == "004200"
    assert caplog.messages == [f"portail.toml: {DEPRECATED}"]
    assert "payfip_client_number" in raw["communes"][0]["regies"][0]  # the input is untouched
    # A caller that shows the notices itself gets them instead.
    notices: list[str] = []
    caplog.clear()
    parse_config(raw, KNOWN, source="portail.toml", notices=notices)
    assert notices == [f"portail.toml: {DEPRECATED}"]
    assert caplog.messages == []


def test_the_old_client_number_key_is_checked_as_the_new_one() -> None:
    with pytest.raises(ConfigError, match=r"regies\[0\]\.client_number: must be 6 digits"):
        parse_config(old_client_number_key("42"), KNOWN)


def test_both_client_number_keys_must_agree(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError) as refusal:
        parse_config(old_client_number_key("004200", also_new="004201"), KNOWN, source="p.toml")
    assert str(refusal.value) == (
        "p.toml: communes[0].regies[0].payfip_client_number: '004200' differs from "
        "client_number '004201'; payfip_client_number is the deprecated name of client_number: "
        "keep client_number only"
    )
    # The same value under both names is only deprecated.
    with caplog.at_level("WARNING", logger="core.config"):
        config = parse_config(old_client_number_key("004200", also_new="004200"), KNOWN)
    assert config.communes[0].regies[0].client_number == "004200"
    assert caplog.messages == [f"config: {DEPRECATED}"]


def test_check_config_shows_the_deprecated_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "portail.toml"
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    path.write_text(text.replace("client_number =", "payfip_client_number ="), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{path}: OK")
    assert err.splitlines()[0] == f"portail: warning: {path}: {DEPRECATED}"
    assert len(err.splitlines()) == text.count("client_number =")  # one per régie


def test_several_problems_are_reported_together() -> None:
    def broken(raw: dict[str, Any]) -> None:
        boe(raw).update(slug="Boé", password_min_length=7)

    message = refused(broken)
    assert "communes[0].slug" in message and "communes[0].password_min_length" in message


# --- Plugin tables -------------------------------------------------------------------------


def test_an_unknown_plugin_is_refused_with_the_known_ones() -> None:
    message = refused(lambda raw: boe(raw)["plugins"].update(paypal={}))
    assert "communes[0].plugins.paypal: unknown plugin 'paypal'" in message
    assert "known plugins: paper_optout, payfip, prelevement, tipi_legacy" in message


def test_a_plugin_setting_of_the_wrong_value_is_refused() -> None:
    message = refused(lambda raw: boe(raw)["plugins"].update(payfip={"saisie": "Z"}))
    assert "communes[0].plugins.payfip" in message and "saisie" in message and "'Z'" in message


def test_a_plugin_setting_of_the_wrong_type_is_refused() -> None:
    message = refused(lambda raw: boe(raw)["plugins"].update(paper_optout={"notify_email": 3}))
    assert "communes[0].plugins.paper_optout" in message and "notify_email" in message


def test_an_unknown_plugin_setting_is_refused() -> None:
    message = refused(lambda raw: boe(raw)["plugins"].update(prelevement={"jour": 5}))
    assert "communes[0].plugins.prelevement" in message and "jour" in message


def test_a_plugin_table_must_be_a_table() -> None:
    message = refused(lambda raw: boe(raw)["plugins"].update(payfip="oui"))
    assert "communes[0].plugins" in message


def test_enabled_must_be_a_boolean() -> None:
    message = refused(lambda raw: boe(raw)["plugins"].update(payfip={"enabled": "yes"}))
    assert "communes[0].plugins.payfip.enabled: must be true or false" in message


def test_enabled_false_leaves_the_plugin_out() -> None:
    def switch_off(raw: dict[str, Any]) -> None:
        boe(raw)["plugins"].update(payfip={"enabled": False, "saisie": "T"}, paper_optout={})

    commune = parse(switch_off).communes[0]
    assert commune.enabled_plugins() == {"paper_optout"}


def test_enabled_true_is_the_same_as_no_enabled_key() -> None:
    def switch_on(raw: dict[str, Any]) -> None:
        boe(raw)["plugins"].update(payfip={"enabled": True}, prelevement={})

    assert parse(switch_on).communes[0].enabled_plugins() == {"payfip", "prelevement"}


def test_plugins_are_not_checked_without_known_plugins() -> None:
    raw = copy.deepcopy(BASE)
    boe(raw)["plugins"].update(paypal={"anything": 1})
    assert "paypal" in parse_config(raw).communes[0].enabled_plugins()


# --- portail check-config ------------------------------------------------------------------


@pytest.fixture(autouse=True)
def valid_process_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`check-config` also reads the environment settings: give it a valid secret, no `.env`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORTAIL_SECRET_KEY", "k" * 32)
    monkeypatch.delenv("PORTAIL_DEBUG", raising=False)
    monkeypatch.delenv("PORTAIL_DEMO", raising=False)


@pytest.mark.parametrize("key", ["", "short-secret", "k" * 31])
def test_check_config_refuses_a_missing_or_short_secret_key(
    key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORTAIL_SECRET_KEY", key)
    assert main(["check-config", str(DEMO_CONFIG)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    expected = "must be set" if not key else f"too short ({len(key)} characters)"
    assert err.startswith("portail: PORTAIL_SECRET_KEY") and expected in err
    assert "at least 32" in err or not key
    assert not key or key not in err  # the secret itself is never printed


def test_portail_serve_refuses_a_short_secret_key_before_starting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refusal comes from the settings, before the port is bound or the database touched."""
    monkeypatch.setenv("PORTAIL_SECRET_KEY", "k" * 31)
    monkeypatch.setenv("PORTAIL_CONFIG", str(DEMO_CONFIG))
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/never")
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "PORTAIL_SECRET_KEY is too short (31 characters)" in err


def test_check_config_accepts_the_demo_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(DEMO_CONFIG)]) == 0
    out, err = capsys.readouterr()
    assert "OK (2 commune(s): boe, aure)" in out and err == ""


def test_check_config_reports_a_bad_file_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "portail.toml"
    path.write_text(MINIMAL_TOML.replace("@", " at "), encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("portail: ") and str(path) in err
    assert "communes[0].contact.email" in err


def test_check_config_asks_which_service_pays_a_regie(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two payment plugins and a régie that names neither: only the plugins can tell."""
    text = DEMO_CONFIG.read_text(encoding="utf-8").replace(
        "[communes.plugins.paper_optout]",
        "[communes.plugins.tipi_legacy]\n\n[communes.plugins.paper_optout]",
        1,
    )
    path = tmp_path / "portail.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "communes[boe].regies[CANT].payment_provider: several payment plugins" in err
    path.write_text(
        text.replace(
            'client_number = "004200"',
            'client_number = "004200"\npayment_provider = "payfip"',
            1,
        ).replace(
            'client_number = "004201"',
            'client_number = "004201"\npayment_provider = "tipi_legacy"',
            1,
        ),
        encoding="utf-8",
    )
    assert main(["check-config", str(path)]) == 0


def test_check_config_reads_portail_config_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORTAIL_CONFIG", str(tmp_path / "absent.toml"))
    assert main(["check-config"]) == 2
    assert "absent.toml: file not found" in capsys.readouterr().err


# --- [communes.legal] ------------------------------------------------------------------------


def test_legal_fields_are_optional_and_missing_ones_are_named() -> None:
    config = parse(lambda raw: boe(raw).update(legal={"address": "Place de la Mairie"}))
    legal = config.communes[0].legal
    assert legal.accessibility == "non-compliant"
    assert legal.missing(("address", "dpo", "host_name")) == ["dpo", "host_name"]


@pytest.mark.parametrize(
    ("legal", "message"),
    [
        ({"accessibility": "conforme"}, "communes[0].legal.accessibility: 'conforme' must be one"),
        (
            {"accessibility": "compliant"},
            "communes[0].legal.accessibility: 'compliant' needs an audit",
        ),
        (
            {"accessibility": "partially-compliant", "accessibility_audit_date": "15/10/2026"},
            "communes[0].legal.accessibility_audit_date: must be a date like 2026-11-28",
        ),
        ({"hôte": "x"}, "communes[0].legal.hôte: unknown key"),
    ],
)
def test_bad_legal_settings_are_refused(legal: dict[str, str], message: str) -> None:
    assert message in refused(lambda raw: boe(raw).update(legal=legal))


def test_an_audited_commune_may_declare_partial_compliance() -> None:
    legal = {"accessibility": "partially-compliant", "accessibility_audit_date": "2026-10-15"}
    config = parse(lambda raw: boe(raw).update(legal=legal))
    assert config.communes[0].legal.accessibility == "partially-compliant"


def test_check_config_warns_about_unpublished_legal_information(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "portail.toml"
    path.write_text(MINIMAL_TOML, encoding="utf-8")
    assert main(["check-config", str(path)]) == 0  # a warning, not a refusal
    out, err = capsys.readouterr()
    assert "OK" in out
    assert "communes[0].legal" in err and "not set yet: address, publication_director" in err


def test_a_colour_white_text_cannot_be_read_on_is_refused() -> None:
    message = refused(lambda raw: boe(raw).update(branding={"colour": "#ffd700"}))
    assert "communes[0].branding.colour: '#ffd700': white text on it contrasts 1.40:1" in message


def test_check_config_names_the_colour_key_of_a_light_colour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "portail.toml"
    path.write_text(MINIMAL_TOML + '\n[communes.branding]\ncolour = "#8ab4f8"\n', "utf-8")
    assert main(["check-config", str(path)]) == 2
    assert "communes[0].branding.colour: '#8ab4f8': white text" in capsys.readouterr().err
