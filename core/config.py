"""The communes' configuration: one TOML file, validated at load.

A bad file is rejected with a message naming the key and the problem, both by
`portail check-config` and at start-up, so a typo never reaches a parent. A key that was renamed
is still read under its old name, with a deprecation notice (`RENAMED_REGIE_KEYS`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from core.colours import branding_problems

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
COLOUR_PATTERN = r"^#[0-9a-fA-F]{6}$"
MIN_PASSWORD_FLOOR = 8  # never below this, whatever a commune asks for
MAX_PASSWORD_LENGTH = 128

# Régie keys renamed: old name -> new name. The old name is still accepted, with a notice.
RENAMED_REGIE_KEYS = {"payfip_client_number": "client_number"}

logger = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration problem; the message names the key."""


class Contact(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How parents reach the commune's billing service."""

    email: str
    phone: str = ""
    hours: str = ""


class Branding(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    colour: str = "#000091"  # the State's blue: good contrast on white
    logo: str = ""  # URL or path under /static/


# The accessibility compliance a commune declares (RGAA): shown in every footer, as the law asks.
ACCESSIBILITY_LEVELS = ("non-compliant", "partially-compliant", "compliant")


class LegalConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What the commune must publish: who publishes and hosts the portal, its data protection
    officer, how long it keeps billing records, and its accessibility statement.

    Every field may be left empty: the page then says what is missing instead of inventing it.
    """

    address: str = ""  # the publisher's (the mairie's) postal address
    phone: str = ""
    publication_director: str = ""  # "Marie Dupont, maire de Boé"
    host_name: str = ""
    host_address: str = ""
    host_phone: str = ""
    dpo: str = ""  # how to reach the data protection officer (e-mail or postal address)
    records_retention: str = ""  # how long the commune keeps invoices, payments, messages
    accessibility: str = "non-compliant"  # one of ACCESSIBILITY_LEVELS; unaudited: non-compliant
    accessibility_audit_date: str = ""  # YYYY-MM-DD; empty: not audited
    accessibility_audit_by: str = ""
    accessibility_rate: str = ""  # share of RGAA criteria met, e.g. "72 %"
    accessibility_issues: list[str] = msgspec.field(default_factory=list)  # content not accessible
    accessibility_contact: str = ""  # empty: the billing service's address

    def missing(self, names: tuple[str, ...]) -> list[str]:
        """The fields of `names` the commune left empty."""
        return [name for name in names if not str(getattr(self, name)).strip()]


# The `[communes.legal]` fields each page needs: Mentions légales, Données personnelles.
PUBLISHER_FIELDS = ("address", "publication_director", "host_name", "host_address", "host_phone")
DATA_PROTECTION_FIELDS = ("address", "dpo", "records_retention")


class RegieConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A régie: a billing unit with its own client number (numcli) at the payment service."""

    code: str
    name: str
    client_number: str = ""  # formerly `payfip_client_number` (still read, deprecated)
    payment_suspended: bool = False  # online payment temporarily suspended for this régie
    payment_provider: str = ""  # plugin paying this régie; empty: the commune's only one


class CommuneConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    slug: str
    name: str
    contact: Contact
    link_code: str = ""  # legacy ?LIEN= code of the seeds' portals
    host: str = ""  # optional host name serving this commune at its root
    password_min_length: int = 12
    welcome: str = ""
    help: str = ""  # the commune's own text on the Aide page
    legal: LegalConfig = msgspec.field(default_factory=LegalConfig)
    branding: Branding = msgspec.field(default_factory=Branding)
    regies: list[RegieConfig] = msgspec.field(default_factory=list)
    plugins: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    payment_suspended: bool = False  # online payment temporarily suspended for every régie
    payment_basket: bool = False  # parents may pay several invoices of a régie at once
    invitation_delay_days: int = 30  # "Inviter les familles" skips addresses invited since

    def regie(self, code: str) -> RegieConfig | None:
        return next((r for r in self.regies if r.code == code), None)

    def enabled_plugins(self) -> set[str]:
        return {name for name, conf in self.plugins.items() if conf.get("enabled", True)}


class PortalConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    communes: list[CommuneConfig]
    title: str = "Portail des factures"
    # Where parents get the source of the running version (AGPL). Empty: the portal serves an
    # archive of its own files at /code-source.tar.gz.
    source_url: str = ""

    def commune(self, slug: str) -> CommuneConfig | None:
        return next((c for c in self.communes if c.slug == slug), None)

    def commune_by_link_code(self, code: str) -> CommuneConfig | None:
        return next((c for c in self.communes if c.link_code and c.link_code == code), None)

    def commune_by_host(self, host: str) -> CommuneConfig | None:
        host = host.split(":", 1)[0].lower()
        return next((c for c in self.communes if c.host and c.host.lower() == host), None)


# Called with (plugin name, its raw table) to validate one plugin's per-commune settings.
PluginSettingsValidator = Callable[[str, dict[str, Any]], Any]


def load_config(
    path: str | Path,
    known_plugins: dict[str, type] | None = None,
    notices: list[str] | None = None,
) -> PortalConfig:
    """Read and validate the TOML file at `path`.

    :param known_plugins: plugin name -> settings type (a msgspec Struct); when given, every
        enabled plugin must be known and its settings must convert to that type.
    :param notices: receives the deprecation notices (keys under an old name), for the caller
        to show; without it, they are logged as warnings.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (set PORTAIL_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, known_plugins, source=str(path), notices=notices)


def parse_config(
    raw: dict[str, Any],
    known_plugins: dict[str, type] | None = None,
    source: str = "config",
    notices: list[str] | None = None,
) -> PortalConfig:
    """Validate `raw` (a parsed TOML document); see `load_config` for the parameters."""
    raw, renamed, conflicts = _renamed_keys(raw)
    if conflicts:
        raise ConfigError(f"{source}: " + "; ".join(conflicts))
    for notice in renamed:
        if notices is None:
            logger.warning("%s: %s", source, notice)
        else:
            notices.append(f"{source}: {notice}")
    try:
        config = msgspec.convert(raw, PortalConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_readable(str(exc))}") from None
    problems = list(_check(config, known_plugins))
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return config


def plugin_settings(commune: CommuneConfig, name: str, settings_type: type) -> Any:
    """The typed settings of plugin `name` for `commune` (the `enabled` key is not passed on)."""
    table = {k: v for k, v in commune.plugins.get(name, {}).items() if k != "enabled"}
    return msgspec.convert(table, settings_type)


def _renamed_keys(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
    """`raw` with the régies' renamed keys under their new names (copied, never changed in
    place), the deprecation notices, and the problems (both names, with different values)."""
    notices: list[str] = []
    conflicts: list[str] = []
    communes = raw.get("communes")
    if not isinstance(communes, list):
        return raw, notices, conflicts  # msgspec names the problem
    raw = {**raw, "communes": [_copy(commune) for commune in communes]}
    for i, commune in enumerate(raw["communes"]):
        regies = commune.get("regies") if isinstance(commune, dict) else None
        if not isinstance(regies, list):
            continue
        commune["regies"] = [_copy(regie) for regie in regies]
        for j, regie in enumerate(commune["regies"]):
            for old, new in RENAMED_REGIE_KEYS.items():
                if not isinstance(regie, dict) or old not in regie:
                    continue
                key = f"communes[{i}].regies[{j}]"
                value = regie.pop(old)
                if regie.setdefault(new, value) != value:
                    conflicts.append(
                        f"{key}.{old}: {value!r} differs from {new} {regie[new]!r}; "
                        f"{old} is the deprecated name of {new}: keep {new} only"
                    )
                else:
                    notices.append(f"{key}.{old} is deprecated: rename it {new}")
    return raw, notices, conflicts


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def _check(config: PortalConfig, known_plugins: dict[str, type] | None) -> Iterator[str]:
    if not config.communes:
        yield "communes: at least one commune is required"
    seen_slugs: set[str] = set()
    seen_codes: set[str] = set()
    for i, commune in enumerate(config.communes):
        key = f"communes[{i}]"
        if not re.match(SLUG_PATTERN, commune.slug):
            yield f"{key}.slug: {commune.slug!r} must be lower-case letters, digits and dashes"
        if commune.slug in seen_slugs:
            yield f"{key}.slug: {commune.slug!r} is used twice"
        seen_slugs.add(commune.slug)
        if commune.link_code:
            if commune.link_code in seen_codes:
                yield f"{key}.link_code: {commune.link_code!r} is used twice"
            seen_codes.add(commune.link_code)
        if not commune.name.strip():
            yield f"{key}.name: must not be empty"
        if "@" not in commune.contact.email:
            yield f"{key}.contact.email: {commune.contact.email!r} is not an e-mail address"
        if not MIN_PASSWORD_FLOOR <= commune.password_min_length <= 64:
            yield (
                f"{key}.password_min_length: {commune.password_min_length} must be between "
                f"{MIN_PASSWORD_FLOOR} and 64"
            )
        if commune.invitation_delay_days < 0:
            yield f"{key}.invitation_delay_days: {commune.invitation_delay_days} must be 0 or more"
        yield from _check_legal(key, commune.legal)
        if not re.match(COLOUR_PATTERN, commune.branding.colour):
            yield f"{key}.branding.colour: {commune.branding.colour!r} must look like #1e3a8a"
        else:
            for problem in branding_problems(commune.branding.colour):
                yield f"{key}.branding.colour: {commune.branding.colour!r}: {problem}"
        regie_codes: set[str] = set()
        for j, regie in enumerate(commune.regies):
            if not regie.code.strip():
                yield f"{key}.regies[{j}].code: must not be empty"
            if regie.code in regie_codes:
                yield f"{key}.regies[{j}].code: {regie.code!r} is used twice"
            regie_codes.add(regie.code)
            if regie.client_number and not re.fullmatch(r"\d{6}", regie.client_number):
                yield f"{key}.regies[{j}].client_number: must be 6 digits"
            if regie.payment_provider and regie.payment_provider not in commune.enabled_plugins():
                yield (
                    f"{key}.regies[{j}].payment_provider: {regie.payment_provider!r} is not a "
                    "plugin enabled for this commune"
                )
        for name, table in commune.plugins.items():
            if known_plugins is None:
                break
            pkey = f"{key}.plugins.{name}"
            if not isinstance(table.get("enabled", True), bool):
                yield f"{pkey}.enabled: must be true or false"
            if name not in known_plugins:
                known = ", ".join(sorted(known_plugins)) or "none"
                yield f"{pkey}: unknown plugin {name!r} (known plugins: {known})"
                continue
            try:
                plugin_settings(commune, name, known_plugins[name])
            except msgspec.ValidationError as exc:
                yield f"{pkey}.{_readable(str(exc))}"


def _check_legal(key: str, legal: LegalConfig) -> Iterator[str]:
    if legal.accessibility not in ACCESSIBILITY_LEVELS:
        yield (
            f"{key}.legal.accessibility: {legal.accessibility!r} must be one of "
            + ", ".join(ACCESSIBILITY_LEVELS)
        )
    if legal.accessibility_audit_date:
        try:
            dt.date.fromisoformat(legal.accessibility_audit_date)
        except ValueError:
            yield f"{key}.legal.accessibility_audit_date: must be a date like 2026-11-28"
    elif legal.accessibility != "non-compliant":
        # RGAA: a site without an audit is declared non-compliant.
        yield (
            f"{key}.legal.accessibility: {legal.accessibility!r} needs an audit: set "
            "accessibility_audit_date, or declare non-compliant"
        )


def _readable(message: str) -> str:
    """msgspec says `... - at `$.communes[0].slug``; put the key first, like our own messages."""
    problem, _, path = message.partition(" - at `$")
    key = path.removesuffix("`").removeprefix(".")
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", problem)
    if unknown:  # name the offending key itself, not the table holding it
        key = f"{key}.{unknown.group(1)}" if key else unknown.group(1)
        problem = "unknown key (check its spelling and its table)"
    return f"{key or '(top level)'}: {problem}"
