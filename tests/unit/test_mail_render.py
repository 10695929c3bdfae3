"""Rendering e-mails from `mail/<name>.txt` (+ optional `.html`) templates."""

from __future__ import annotations

import jinja2
import pytest

from core.mail.render import RenderedEmail, render_email

TEMPLATES = {
    "mail/invoice.txt": (
        "{% block subject %}\n  Facture {{ number }}\n  de février\n{% endblock %}\n"
        "{% block body %}\nBonjour {{ name }},\n\nMontant : {{ amount }} €.\n{% endblock %}\n"
    ),
    "mail/invoice.html": "<p>Bonjour {{ name }}, montant : {{ amount }} €.</p>",
    "mail/plain.txt": "{% block subject %}Sujet{% endblock %}{% block body %}Corps{% endblock %}",
    "mail/broken.txt": "{% block body %}No subject{% endblock %}",
}


@pytest.fixture
def env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.DictLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def test_renders_subject_text_and_html(env: jinja2.Environment) -> None:
    mail = render_email(env, "invoice", number="F-12", name="Zoé <Ä>", amount="12,50")
    assert mail.subject == "Facture F-12 de février"
    assert mail.text == "Bonjour Zoé <Ä>,\n\nMontant : 12,50 €.\n"
    assert mail.html == "<p>Bonjour Zoé &lt;Ä&gt;, montant : 12,50 €.</p>"


def test_html_is_optional(env: jinja2.Environment) -> None:
    assert render_email(env, "plain") == RenderedEmail(subject="Sujet", text="Corps\n", html="")


def test_missing_block_is_an_error(env: jinja2.Environment) -> None:
    with pytest.raises(ValueError, match="subject"):
        render_email(env, "broken")


def test_missing_variable_is_an_error_with_strict_undefined(env: jinja2.Environment) -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_email(env, "invoice", number="F-1")
