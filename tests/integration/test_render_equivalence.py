"""The parents' pages are rendered with `core.web.templates.output_escape` (no `Markup` built per
value): the HTML must be byte for byte what stock Jinja and markupsafe give, and typed text
escaped the same way.
"""

from __future__ import annotations

import datetime as dt

import jinja2
import pytest
from litestar import Litestar

from core.invoices.services import today
from core.invoices.tables import PAID, TREASURY
from core.web.templates import output_escape
from tests.integration.conftest import Portal, add_invoice, add_payer

EMAIL = "claire@example.org"
# What an import may bring: markup, quotes, ampersands, in the payer's and invoices' texts.
TYPED = '<b>Cantine</b> & "goûter" d\'avril'
ESCAPED = "&lt;b&gt;Cantine&lt;/b&gt; &amp; &#34;goûter&#34; d&#39;avril"


async def pages(portal: Portal, detail_id: int) -> dict[str, str]:
    list_fragment = {"hx-request": "true", "hx-target": "invoice-list"}
    detail_fragment = {"hx-request": "true", "hx-target": "invoice-detail"}
    requests = {
        "à régler": ("/boe/factures", {}),
        "à régler, fragment": ("/boe/factures", list_fragment),
        "réglées": ("/boe/factures/reglees", {}),
        "trésorerie, fragment": ("/boe/factures/tresorerie", list_fragment),
        "détail": (f"/boe/factures/{detail_id}", {}),
        "détail, fragment": (f"/boe/factures/{detail_id}", detail_fragment),
    }
    texts = {}
    for name, (path, headers) in requests.items():
        response = await portal.client.get(path, headers=headers)
        assert response.status_code == 200, (name, response.text)
        texts[name] = response.text
    return texts


async def test_pages_are_rendered_as_stock_jinja_renders_them(
    app: Litestar, portal: Portal
) -> None:
    payer = await add_payer("boe", "P1", TYPED, EMAIL)
    await portal.activate("boe", EMAIL)
    late = await add_invoice(
        "boe", payer, object=TYPED, due_on=today() - dt.timedelta(days=3), paid=1000
    )
    for n in range(25):  # more than a page: the pagination too
        await add_invoice("boe", payer, object=f"{TYPED} {n}")
    await add_invoice(
        "boe",
        payer,
        status=PAID,
        paid=24311,
        paid_on=dt.date(2026, 2, 1),
        payment_mode="en_ligne",
        authorisation_number="<A&1>",
    )
    await add_invoice("boe", payer, status=TREASURY, object=TYPED)

    env = app.template_engine.engine  # type: ignore[union-attr]
    template = env.get_template("invoices/list.html")
    assert template.root_render_func.__globals__["escape"] is output_escape
    ours = await pages(portal, late)

    env.template_class = jinja2.Template
    env.cache.clear()
    assert env.get_template("invoices/list.html").root_render_func.__globals__["escape"] is not (
        output_escape
    )
    stock = await pages(portal, late)

    assert ours == stock
    for name, text in ours.items():
        assert ESCAPED in text, name
        assert "<b>Cantine" not in text, name
    assert "&lt;A&amp;1&gt;" in ours["réglées"]


def test_output_escape_gives_markupsafe_escape_text() -> None:
    class Html:
        def __html__(self) -> str:
            return "<i>déjà sûr</i>"

    values = [TYPED, "", "plain", 24311, 0.5, None, True, jinja2.Undefined(), Html()]
    values += [jinja2.utils.markupsafe.Markup("<em>x</em>"), "‘’ « » \u00a0€"]
    for value in values:
        escaped = output_escape(value)
        assert type(escaped) is str
        assert escaped == str(jinja2.utils.markupsafe.escape(value)), value
    # Debug mode's undefined values fail as loudly as with markupsafe's escape.
    with pytest.raises(jinja2.UndefinedError):
        output_escape(jinja2.StrictUndefined(name="missing"))
