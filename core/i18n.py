"""The French message catalogue: every sentence a user reads that is not in a template.

Files `core/locale/fr/<namespace>.toml` hold `key = "text"` pairs; `t("<namespace>.<key>")`
returns the text, formatted with `str.format` parameters. Plugins bring their own catalogues
through the `register_catalogues` hook, which `core.plugins` loads with `add_catalogue()`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

CORE_CATALOGUE = Path(__file__).parent / "locale" / "fr"

_messages: dict[str, str] = {}
_catalogues: list[Path] = [CORE_CATALOGUE]


def add_catalogue(path: Path) -> None:
    """Merge a catalogue into the messages: a `*.toml` file, or a directory of them (a plugin's
    own messages). Adding the same path again changes nothing."""
    if path not in _catalogues:
        _catalogues.append(path)
        _messages.clear()


def _files(catalogue: Path) -> list[Path]:
    return [catalogue] if catalogue.is_file() else sorted(catalogue.glob("*.toml"))


def _load() -> dict[str, str]:
    if not _messages:
        for catalogue in _catalogues:
            for path in _files(catalogue):
                table = tomllib.loads(path.read_text(encoding="utf-8"))
                for key, text in _flatten(table):
                    _messages[f"{path.stem}.{key}"] = text
    return _messages


def _flatten(table: dict, prefix: str = "") -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            pairs.extend(_flatten(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", str(value)))
    return pairs


def t(key: str, **params: object) -> str:
    """The French text for `key`; a missing key raises, so a typo fails the tests, not a parent."""
    text = _load()[key]
    return text.format(**params) if params else text


def has(key: str) -> bool:
    return key in _load()
