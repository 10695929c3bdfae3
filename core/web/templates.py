"""The one Jinja environment: core templates, then plugins' own, plus `default:` to extend
the originals; pages and e-mails are rendered with it."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pluggy

from core import i18n
from core.settings import Settings
from core.web import formatting

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES_DIR = PROJECT_ROOT / "templates"


def build_jinja_env(settings: Settings, pm: pluggy.PluginManager) -> jinja2.Environment:
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
    env.filters.update(rich_text=formatting.rich_text)
    env.globals.update(t=i18n.t, demo=settings.demo)
    return env
