"""The parent's side of news alerts: the choice in "Mes informations" (htmx answers with the
section) and the unsubscribe link of each mail (no login: its key is the proof).

The link's POST is also the RFC 8058 one-click unsubscribe: a mail client posts
`List-Unsubscribe=One-Click` to it with no session and no CSRF token. So that POST is exempt
from the CSRF check; the signed key in the address is what authorises it, for the page's
button as for the mail client (a forged key changes nothing and gets the French error)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from core.communes.context import CommuneContext
from core.i18n import t
from core.news_alerts import services
from core.settings import Settings
from core.web.forms import form_fields
from core.web.identity import SignedIn
from core.web.pages import page
from core.web.render import is_htmx

SECTION_TEMPLATE = "news_alerts/_section.html"
UNSUBSCRIBE_TEMPLATE = "news_alerts/unsubscribe.html"


class NewsAlertController(Controller):
    path = "/{slug:str}"

    @post("/mes-informations/actualites", name="news_alerts_choose")
    async def choose(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Response[Any]:
        """Record the wanted state (not a toggle: a double submission changes nothing)."""
        wanted = (await form_fields(request)).get("news_alerts") == "1"
        await services.set_subscription(account.account_id, wanted)
        if is_htmx(request):
            return page(
                request,
                commune,
                SECTION_TEMPLATE,
                account=account,
                news_alerts=wanted,
                news_alerts_info=t("news_alerts.on" if wanted else "news_alerts.off"),
            )
        info = "news_alerts_on" if wanted else "news_alerts_off"
        return Redirect(
            path=commune.url(f"mes-informations?info={info}#news-alerts-section"),
            status_code=303,
        )

    @get("/actualites/desabonnement/{account_id:int}/{key:str}", name="news_alerts_unsubscribe")
    async def unsubscribe_page(
        self,
        request: Request,
        commune: CommuneContext,
        settings: Settings,
        current_account: SignedIn | None,
        account_id: int,
        key: str,
    ) -> Template:
        """The link of each mail: one button, since mail scanners follow links."""
        valid = services.valid_key(settings.secret_key, commune.slug, account_id, key)
        done = valid and not await services.is_subscribed(account_id)
        return _unsubscribe_page(request, commune, current_account, valid=valid, done=done)

    @post("/actualites/desabonnement/{account_id:int}/{key:str}", exclude_from_csrf=True)
    async def unsubscribe(
        self,
        request: Request,
        commune: CommuneContext,
        settings: Settings,
        current_account: SignedIn | None,
        account_id: int,
        key: str,
    ) -> Template:
        valid = services.valid_key(settings.secret_key, commune.slug, account_id, key)
        if valid:
            await services.set_subscription(account_id, False)
        return _unsubscribe_page(request, commune, current_account, valid=valid, done=valid)


def _unsubscribe_page(
    request: Request,
    commune: CommuneContext,
    account: SignedIn | None,
    *,
    valid: bool,
    done: bool,
) -> Template:
    """The unsubscribe page: its button (posting to the same address), done, or a bad link."""
    return page(
        request,
        commune,
        UNSUBSCRIBE_TEMPLATE,
        account=account,
        invalid=not valid,
        done=done,
        action=request.url.path,
        status_code=200 if valid else 404,
    )
