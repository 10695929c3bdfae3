"""A commune's page: the template, plus what its layout reads on every page (the commune, who
is signed in, the menu, the flash notice).

`commune_page` is the generic part, for any identity (the parents' space, the agents' back
office); `page` is the parents' page, whose menu comes from the `menu_items` hook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Request
from litestar.response import Template

from core.communes.context import CommuneContext
from core.hookspecs import MenuItem
from core.i18n import has, t
from core.web.identity import SignedIn
from core.web.render import render


def flash_info(request: Request) -> str:
    """The notice named by `?info=<key>` (catalogue `flash.<key>`); "" for an unknown key."""
    info = request.query_params.get("info", "")
    return t(f"flash.{info}") if info and has(f"flash.{info}") else ""


def commune_page(
    request: Request,
    commune: CommuneContext,
    template: str,
    *,
    account: object | None,
    menu: Sequence[MenuItem],
    block: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """Render a commune page for `account` (whoever is signed in, or None) with `menu`.

    A page for someone signed in is never stored by a cache (shared or the browser's history
    cache): it shows personal data."""
    response = render(
        request,
        template,
        {
            "commune": commune,
            "account": account,
            "menu": menu,
            "current_path": request.url.path,
            "info": flash_info(request),
            "errors": {},
            "values": {},
            **context,
        },
        block=block,
        status_code=status_code,
    )
    if account is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


def parent_menu(commune: CommuneContext) -> Sequence[MenuItem]:
    """The signed-in parent's menu: every enabled plugin's `menu_items`, by order.

    Asked once per commune and kept: the hook's answer depends on the commune's configuration
    only (its spec says so), and asking on every page cost a pluggy call and a sort (about 11 µs,
    1.5 % of the invoice list's CPU)."""
    return commune.kept("parent_menu", lambda: _sorted_menu(commune))


def _sorted_menu(commune: CommuneContext) -> tuple[MenuItem, ...]:
    items = (item for items in commune.hooks.menu_items(commune=commune) for item in items)
    return tuple(sorted(items, key=lambda item: item.order))


def page(
    request: Request,
    commune: CommuneContext,
    template: str,
    *,
    account: SignedIn | None = None,
    block: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """Render a page of the parents' space; the menu shows once a parent is signed in."""
    return commune_page(
        request,
        commune,
        template,
        account=account,
        menu=parent_menu(commune) if account else [],
        block=block,
        status_code=status_code,
        **context,
    )
