"""The portal's front page and each commune's colours."""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.response import Redirect, Template

from core.accounts.tables import Account, PayerEmail
from core.communes.context import CommuneContext
from core.web.render import render


class IndexController(Controller):
    @get("/", name="index")
    async def list_communes(self, request: Request) -> Template | Redirect:
        """The communes of this portal; `?LIEN=<code>` (the old portals' links) goes to one."""
        portal = request.app.state.portal
        code = next((v for k, v in request.query_params.items() if k.lower() == "lien"), None)
        if code:
            commune = portal.config.commune_by_link_code(code.strip())
            if commune is not None:
                return Redirect(path=f"/{commune.slug}/", status_code=301)
        by_host = portal.config.commune_by_host(request.headers.get("host", ""))
        if by_host is not None:
            return Redirect(path=f"/{by_host.slug}/", status_code=302)
        demo_people = await _demo_people() if portal.settings.demo else []
        return render(
            request,
            "index.html",
            {
                "commune": None,
                "communes": portal.config.communes,
                "unknown_link": bool(code),
                "demo_people": demo_people,
                "base_url": portal.settings.base_url.rstrip("/"),
                "demo_password": _demo_password() if portal.settings.demo else "",
            },
            status_code=404 if code else 200,
        )


def _demo_password() -> str:
    # Imported here: the demo module (and its SMTP sink) has no business in a production process.
    from core.demo import DEMO_PASSWORD

    return DEMO_PASSWORD


async def _demo_people() -> list[dict]:
    """The demo payers' addresses, so a visitor knows which one to activate."""
    people = (
        await PayerEmail.select(
            PayerEmail.email,
            PayerEmail.commune,
            PayerEmail.payer.name.as_alias("name"),
            PayerEmail.commune.slug.as_alias("slug"),
        )
        .order_by(PayerEmail.commune)
        .order_by(PayerEmail.email)
        .limit(50)
    )
    active = {
        (row["commune"], row["email"])
        for row in await Account.select(Account.commune, Account.email).where(
            Account.state == "active"
        )
    }
    return [{**p, "active": (p["commune"], p["email"]) in active} for p in people]


class ThemeController(Controller):
    path = "/{slug:str}"

    @get("/theme.css", name="theme")
    async def theme(self, commune: CommuneContext) -> Response[str]:
        """The commune's colour as CSS, so pages need no inline style (strict CSP)."""
        colour = commune.config.branding.colour  # validated as #rrggbb at load
        css = f":root {{ --commune-colour: {colour}; }}\n"
        return Response(
            css, media_type="text/css", headers={"cache-control": "public, max-age=300"}
        )
