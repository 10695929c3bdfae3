"""News alerts as a core plugin (always on): the section of "Mes informations" and the routes.
Written with the hooks plugins use, so the account pages need not know about it."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from core.hookspecs import hookimpl
from core.news_alerts.controllers import NewsAlertController
from core.news_alerts.services import is_subscribed
from core.web.identity import SignedIn


@hookimpl
def account_sections() -> list[str]:
    return ["news_alerts/_section.html"]


@hookimpl
def account_section_context(account: SignedIn) -> Coroutine[Any, Any, dict[str, Any]]:
    return _section_context(account.account_id)


async def _section_context(account_id: int) -> dict[str, Any]:
    return {"news_alerts": await is_subscribed(account_id), "news_alerts_info": ""}


@hookimpl
def register_routes() -> list[Any]:
    return [NewsAlertController]
