"""The documentation keeps up with the code (as datasette's test_docs.py does).

- every hookspec has a `## name(args)` section in docs/plugin-hooks.md, with the spec's arguments;
- every hookspec has a `test_hook_<name>` test somewhere under tests/;
- every setting's variable and every CommuneConfig key appear in docs/configuration.md.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import msgspec
import pytest

from core import hookspecs
from core.config import (
    Branding,
    CommuneConfig,
    Contact,
    LegalConfig,
    PortalConfig,
    RegieConfig,
)
from core.plugins import collect_plugin_settings, get_plugin_manager
from core.settings import documented_settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TESTS = ROOT / "tests"
HOOK_HEADING = re.compile(r"^## (\w+)\((.*)\)\s*$", re.MULTILINE)


def hookspec_names() -> list[str]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return sorted(
        name
        for name, obj in vars(hookspecs).items()
        if inspect.isfunction(obj) and hasattr(obj, marker)
    )


HOOKS = hookspec_names()


def documented_hooks() -> dict[str, list[str]]:
    text = (DOCS / "plugin-hooks.md").read_text(encoding="utf-8")
    return {
        name: [arg.strip() for arg in args.split(",") if arg.strip()]
        for name, args in HOOK_HEADING.findall(text)
    }


def test_hookspecs_are_found() -> None:
    assert {"register_plugin_settings", "menu_items", "account_sections"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_arguments(hook: str) -> None:
    documented = documented_hooks()
    assert hook in documented, f"docs/plugin-hooks.md needs a '## {hook}(...)' section"
    spec_args = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert documented[hook] == spec_args


def test_no_documented_hook_is_stale() -> None:
    assert set(documented_hooks()) <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    pattern = re.compile(rf"^\s*(async\s+)?def test_hook_{hook}\(", re.MULTILINE)
    files = [p for p in TESTS.rglob("test_*.py") if p.resolve() != Path(__file__).resolve()]
    assert any(pattern.search(p.read_text(encoding="utf-8")) for p in files), (
        f"no test function named test_hook_{hook} under tests/"
    )


def configuration_doc() -> str:
    return (DOCS / "configuration.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("variable", [variable for variable, _, _ in documented_settings()])
def test_every_setting_is_documented(variable: str) -> None:
    assert f"`{variable}`" in configuration_doc()


@pytest.mark.parametrize(
    ("struct", "key"),
    [
        (struct, f.encode_name)
        for struct in (PortalConfig, CommuneConfig, Contact, Branding, LegalConfig, RegieConfig)
        for f in msgspec.structs.fields(struct)
    ],
)
def test_every_configuration_key_is_documented(struct: type, key: str) -> None:
    assert f"| `{key}` |" in configuration_doc(), f"{struct.__name__}.{key}"


def test_every_builtin_plugin_setting_is_documented() -> None:
    text = configuration_doc()
    for name, settings_type in collect_plugin_settings(
        get_plugin_manager(load_entry_points=False)
    ).items():
        assert f"#### `{name}`" in text
        for f in msgspec.structs.fields(settings_type):
            assert f"| `{f.encode_name}` |" in text, f"{name}.{f.encode_name}"
