"""The one Jinja environment: core templates, then plugins' own, plus `default:` to extend
the originals; pages and e-mails are rendered with it."""

from __future__ import annotations

import jinja2
import pluggy

from core import i18n
from core.assets import TEMPLATES_DIR
from core.settings import Settings
from core.version import software_version
from core.web import formatting

# The source of the running version (AGPL), served by `core.legal` unless the configuration's
# `source_url` points elsewhere.
SOURCE_ARCHIVE_PATH = "/code-source.tar.gz"


def build_jinja_env(
    settings: Settings, pm: pluggy.PluginManager, *, source_url: str = ""
) -> jinja2.Environment:
    """One environment: core templates, then plugins' own, plus `default:` to extend originals."""
    plugin_dirs = [d for dirs in pm.hook.template_directories() for d in dirs]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader([TEMPLATES_DIR, *plugin_dirs]),
                jinja2.PrefixLoader({"default": jinja2.FileSystemLoader(TEMPLATES_DIR)}),
            ]
        ),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        undefined=jinja2.StrictUndefined if settings.debug else jinja2.Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # In production templates change only with a deployment: no stat() of the file at
        # every render to see whether it changed.
        auto_reload=settings.debug,
    )
    env.filters.update(money=formatting.money, date=formatting.date, datetime=formatting.datetime)
    env.filters.update(
        rich_text=formatting.rich_text, duration=formatting.duration, iso_date=formatting.iso_date
    )
    env.globals.update(t=i18n.t, demo=settings.demo)
    env.globals.update(
        source_url=source_url or SOURCE_ARCHIVE_PATH, software_version=software_version()
    )
    return env
