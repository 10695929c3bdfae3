"""PayFiP's two ways back to the portal. Neither settles anything from its parameters: each only
names an idop, and the core asks `recupererDetailPaiementSecurise` about it (payfip.md §5).

- `POST /<commune>/payfip/notification`: the service's server-to-server notification
  (form-encoded `idop`, whatever its case). No CSRF (the service posts it); an unknown idop or
  a duplicate arriving while its attempt is being checked is answered at once; only the
  notifications that make the portal ask the service are rate-limited per address. An empty
  200 in every case but the limit (429).
- `GET|POST /<commune>/payfip/retour`: the parent's browser, back from the payment page; it
  goes on to the result page, which updates itself until the result is final.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Controller, Request, Response, post, route
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from core.communes.context import CommuneContext
from core.payments import services
from core.payments.services import AttemptView
from core.security import throttle
from core.web.dependencies import mailer
from core.web.security import client_ip
from plugins.payfip import PLUGIN_NAME

NOTIFICATIONS = throttle.Limit("payfip_notification", max_hits=120, window_seconds=60)
MAX_IDOP_LENGTH = 64


def idop_from(pairs: Iterable[tuple[str, Any]]) -> str:
    """The `idop` parameter, read case-insensitively (`idop`, `idOp`, `IDOP`...)."""
    for key, value in pairs:
        if key.lower() == "idop" and isinstance(value, str):
            value = value.strip()
            return value if 0 < len(value) <= MAX_IDOP_LENGTH else ""
    return ""


async def _idop(request: Request) -> str:
    found = idop_from(request.query_params.items())
    if not found and request.method == "POST":
        form = await request.form()
        found = idop_from(form.items())
    return found


async def _named_attempt(request: Request, commune: CommuneContext) -> AttemptView | None:
    """The attempt this portal created for the request's idop, if any (404 where PayFiP is off)."""
    if not commune.enabled(PLUGIN_NAME):
        raise NotFoundException()
    idop = await _idop(request)
    if not idop:
        return None
    return await services.find_by_provider_reference(commune.id, PLUGIN_NAME, idop)


class PayfipController(Controller):
    path = "/{slug:str}/payfip"

    @post("/notification", name="payfip_notification", exclude_from_csrf=True, status_code=200)
    async def notification(self, request: Request, commune: CommuneContext) -> Response[bytes]:
        attempt = await _named_attempt(request, commune)
        if attempt is None:  # not an idop this portal created: nothing to do
            return Response(content=b"", status_code=200, media_type="text/plain")
        settings = request.app.state.portal.settings
        address = client_ip(request, settings.trust_proxy_headers)

        async def allowed() -> bool:  # counted only when the service is about to be asked
            return await throttle.hit(address, NOTIFICATIONS)

        if not await services.notified(commune, attempt, mailer(request), allowed):
            return Response(content=b"", status_code=429)
        return Response(content=b"", status_code=200, media_type="text/plain")

    @route(
        "/retour",
        http_method=["GET", "POST"],
        name="payfip_return",
        exclude_from_csrf=True,
        status_code=303,
    )
    async def browser_return(self, request: Request, commune: CommuneContext) -> Redirect:
        attempt = await _named_attempt(request, commune)
        if attempt is None:
            return Redirect(path=commune.url("paiements"), status_code=303)
        await services.refresh(commune, attempt, mailer(request), min_interval=0)
        # A GET, so the session cookie (SameSite=Lax) comes with it even after a cross-site POST.
        return Redirect(path=commune.url(f"paiement/{attempt.refdet}"), status_code=303)
