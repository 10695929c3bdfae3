"""The French message catalogue: every sentence a user reads that is not in a template.

Files `core/locale/fr/<namespace>.toml` hold `key = "text"` pairs; `t("<namespace>.<key>")`
returns the text, formatted with `str.format` parameters. Plugins add their own catalogue
directories with `add_catalogue()`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

CORE_CATALOGUE = Path(__file__).parent / "locale" / "fr"

_messages: dict[str, str] = {}
_directories: list[Path] = [CORE_CATALOGUE]


def add_catalogue(directory: Path) -> None:
    """Merge the `*.toml` files of `directory` into the catalogue (a plugin's own messages)."""
    if directory not in _directories:
        _directories.append(directory)
        _messages.clear()


def _load() -> dict[str, str]:
    if not _messages:
        for directory in _directories:
            for path in sorted(directory.glob("*.toml")):
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
