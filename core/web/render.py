"""One place decides between a full page and an HTMX fragment.

A fragment is returned only for an htmx request that is not a history restore and that targets
the block's element (`HX-Target` equal to the block name, with `_` written `-`). Every response
carries `Vary: HX-Request` so no cache serves a fragment for a page or the other way round.
"""

from __future__ import annotations

from typing import Any

from jinja2_fragments.litestar import HTMXBlockTemplate
from litestar import MediaType, Request

# What the base layout reads on every page; pages outside a commune leave them empty.
PAGE_DEFAULTS: dict[str, Any] = {
    "commune": None,
    "account": None,
    "menu": [],
    "info": "",
    "errors": {},
    "values": {},
}


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (so a fragment or an HX-* header can answer it)."""
    return request.headers.get("hx-request") == "true"


def wants_fragment(request: Request, block: str | None) -> bool:
    if block is None or not is_htmx(request):
        return False
    if request.headers.get("hx-history-restore-request") == "true":
        return False
    target = request.headers.get("hx-target")
    return target is None or target == block.replace("_", "-")


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
) -> HTMXBlockTemplate:
    """Render `template`, or only its `block` when htmx asks for that element (the template
    then sees `as_fragment`, e.g. to send a <title> that htmx puts on the page)."""
    fragment = wants_fragment(request, block)
    response = HTMXBlockTemplate(
        template_name=template,
        context={
            **PAGE_DEFAULTS,
            "current_path": request.url.path,
            "as_fragment": fragment,
            **(context or {}),
        },
        block_name=block if fragment else None,
        status_code=status_code,
        # Said, not guessed from the template's name (`mimetypes`) at each response.
        media_type=MediaType.HTML,
    )
    response.headers["Vary"] = "HX-Request"
    return response
