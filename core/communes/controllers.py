"""The portal's front page and each commune's colours."""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.response import Redirect, Template

from core.colours import focus_colours
from core.communes.context import CommuneContext
from core.config import PortalConfig
from core.demo_accounts import DEMO_PASSWORD, demo_agents, demo_people
from core.settings import Settings
from core.web.render import render


class IndexController(Controller):
    @get("/", name="index")
    async def list_communes(
        self, request: Request, settings: Settings, config: PortalConfig
    ) -> Template | Redirect:
        """The communes of this portal; `?LIEN=<code>` (the old portals' links) goes to one."""
        code = next((v for k, v in request.query_params.items() if k.lower() == "lien"), None)
        if code:
            commune = config.commune_by_link_code(code.strip())
            if commune is not None:
                return Redirect(path=f"/{commune.slug}/", status_code=301)
        by_host = config.commune_by_host(request.headers.get("host", ""))
        if by_host is not None:
            return Redirect(path=f"/{by_host.slug}/", status_code=302)
        return render(
            request,
            "index.html",
            {
                "commune": None,
                "communes": config.communes,
                "unknown_link": bool(code),
                "demo_people": await demo_people() if settings.demo else [],
                "demo_agents": await demo_agents() if settings.demo else [],
                "base_url": settings.base_url.rstrip("/"),
                "demo_password": DEMO_PASSWORD if settings.demo else "",
            },
            status_code=404 if code else 200,
        )


class ThemeController(Controller):
    path = "/{slug:str}"

    @get("/theme.css", name="theme")
    async def theme(self, commune: CommuneContext) -> Response[str]:
        """The commune's colour and the focus colours derived from it, as CSS, so pages need no
        inline style (strict CSP)."""
        colour = commune.config.branding.colour  # validated at load: #rrggbb, focus reachable
        focus = focus_colours(colour)
        assert focus is not None  # noqa: S101 (check-config refuses a colour without one)
        css = (
            f":root {{ --commune-colour: {colour}; --focus: {focus.on_page}; "
            f"--focus-on-brand: {focus.on_brand}; }}\n"
        )
        return Response(
            css, media_type="text/css", headers={"cache-control": "public, max-age=300"}
        )
