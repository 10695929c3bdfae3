"""The one Jinja environment: core templates, then plugins' own, plus `default:` to extend
the originals; pages and e-mails are rendered with it."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from types import CodeType
from typing import Any

import jinja2
import markupsafe
import pluggy

from core import i18n
from core.assets import TEMPLATES_DIR
from core.settings import Settings
from core.version import software_version
from core.web import formatting

# The source of the running version (AGPL), served by `core.legal` unless the configuration's
# `source_url` points elsewhere.
SOURCE_ARCHIVE_PATH = "/code-source.tar.gz"


# markupsafe's own escaping, without wrapping each result in `Markup` (a Python-level
# constructor); None if a markupsafe version no longer has it (then `markupsafe.escape`).
_escape_text: Callable[[str], str] | None = getattr(markupsafe, "_escape_inner", None)


def output_escape(value: Any) -> str:
    """What every `{{ ... }}` of an autoescaped template calls: `markupsafe.escape`'s text.

    A value written out is only ever joined into the template's output, which Jinja then marks
    safe as a whole (a macro's result, a block, a `{% set %}` block): it need not be `Markup`
    itself. Building one `Markup` per value took a third of the invoice list's render.
    """
    if _escape_text is None:
        return str(markupsafe.escape(value))
    if type(value) is str:
        return _escape_text(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return _escape_text(str(value))


class PortalTemplate(jinja2.Template):
    """A template whose `{{ ... }}` escape with `output_escape`."""

    @classmethod
    def from_code(
        cls,
        environment: jinja2.Environment,
        code: CodeType,
        globals: MutableMapping[str, Any],
        uptodate: Callable[[], bool] | None = None,
    ) -> jinja2.Template:
        # A plain dict of the globals instead of Jinja's `ChainMap` over the environment's:
        # each `{% import %}` compares the importing template's globals with the imported
        # one's keys, a Python-level loop over a ChainMap (about 10 % of the invoice list's
        # render). The environment's globals are all set when the app is built, before any
        # template is loaded, so the snapshot misses nothing.
        template = super().from_code(environment, code, dict(globals), uptodate)
        # The compiled template's functions share one module namespace, whose `escape`
        # (markupsafe's, imported by the generated code) is what every output expression calls.
        template.root_render_func.__globals__["escape"] = output_escape
        return template


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
    env.template_class = PortalTemplate
    env.filters.update(money=formatting.money, date=formatting.date, datetime=formatting.datetime)
    env.filters.update(
        rich_text=formatting.rich_text, duration=formatting.duration, iso_date=formatting.iso_date
    )
    env.globals.update(t=i18n.t, demo=settings.demo)
    env.globals.update(
        source_url=source_url or SOURCE_ARCHIVE_PATH, software_version=software_version()
    )
    return env
