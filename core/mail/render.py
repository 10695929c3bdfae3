"""Rendering e-mails from templates: `mail/<name>.txt` (subject and text) and `mail/<name>.html`.

The text template defines two blocks:

    {% block subject %}Votre facture {{ invoice.number }}{% endblock %}
    {% block body %}Bonjour, …{% endblock %}

The optional HTML template is rendered whole with the same context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str = ""


def render_email(env: jinja2.Environment, name: str, /, **context: Any) -> RenderedEmail:
    """Render the e-mail `name` with `context`; the subject is collapsed to one line.

    `env` and `name` are positional-only, so `name=` etc. remain free for the context.
    """
    template = env.get_template(f"mail/{name}.txt")
    missing = {"subject", "body"} - set(template.blocks)
    if missing:
        raise ValueError(
            f"template mail/{name}.txt must define the blocks: {', '.join(sorted(missing))}"
        )
    subject = _render_block(template, "subject", context)
    body = _render_block(template, "body", context)
    try:
        html_template = env.get_template(f"mail/{name}.html")
    except jinja2.TemplateNotFound:
        html = ""
    else:
        html = html_template.render(context)
    return RenderedEmail(subject=" ".join(subject.split()), text=body.strip() + "\n", html=html)


def _render_block(template: jinja2.Template, block: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[block](template.new_context(context)))
