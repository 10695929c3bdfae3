"""The `rich_text` filter: an agent's plain text shown to parents as paragraphs with links,
with nothing typed able to run in a parent's browser."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from core.web.formatting import rich_text


def link(url: str) -> str:
    return f'<a href="{url}" rel="noopener noreferrer nofollow">{url}</a>'


def test_blank_lines_make_paragraphs_and_line_breaks_stay() -> None:
    html = rich_text("Premier.\r\nSuite.\n\n  \n\nSecond.", "news__text")
    assert isinstance(html, Markup)
    assert html == '<p class="news__text">Premier.\nSuite.</p>\n<p class="news__text">Second.</p>'
    assert rich_text("") == "" and rich_text(None) == ""
    assert rich_text("Un") == "<p>Un</p>"


def test_urls_become_links_with_trailing_punctuation_outside() -> None:
    html = rich_text(
        "Voir https://www.boe.fr/tarifs. Ou (http://boe.fr/a_(b)) ; https://x.fr/?a=1&b=2!"
    )
    assert f"Voir {link('https://www.boe.fr/tarifs')}." in html
    assert f"({link('http://boe.fr/a_(b)')})" in html
    assert f"{link('https://x.fr/?a=1&amp;b=2')}!" in html
    assert rich_text("https://") == "<p>https://</p>"
    assert rich_text("HTTPS://BOE.FR") == f"<p>{link('HTTPS://BOE.FR')}</p>"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
        ("<img src=x onerror=alert(1)>", "<p>&lt;img src=x onerror=alert(1)&gt;</p>"),
        ("javascript:alert(1)", "<p>javascript:alert(1)</p>"),
        ("JaVaScRiPt:alert(1)//https", "<p>JaVaScRiPt:alert(1)//https</p>"),
        ("data:text/html,<b>x</b>", "<p>data:text/html,&lt;b&gt;x&lt;/b&gt;</p>"),
        (
            'https://boe.fr/"onmouseover="alert(1)',
            f"<p>{link('https://boe.fr/')}&#34;onmouseover=&#34;alert(1)</p>",
        ),
        (
            "https://boe.fr/'onfocus='alert(1)",
            f"<p>{link('https://boe.fr/')}&#39;onfocus=&#39;alert(1)</p>",
        ),
        (
            "https://boe.fr/<script>alert(1)</script>",
            f"<p>{link('https://boe.fr/')}&lt;script&gt;alert(1)&lt;/script&gt;</p>",
        ),
        ("&lt;b&gt;", "<p>&amp;lt;b&amp;gt;</p>"),
    ],
)
def test_nothing_typed_runs_in_a_browser(typed: str, expected: str) -> None:
    assert rich_text(typed) == expected


def test_the_class_is_escaped_too() -> None:
    assert rich_text("x", '"><script>') == '<p class="&#34;&gt;&lt;script&gt;">x</p>'


def test_only_http_links_are_made() -> None:
    html = rich_text("ftp://boe.fr mailto:a@b.fr javascript://boe.fr/%0Aalert(1) vbscript:x")
    assert "<a " not in html
