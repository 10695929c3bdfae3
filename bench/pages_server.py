"""The server half of `bench/pages.py`: the portal as `portail serve` runs it, plus two
reference routes that only the benchmark registers (a plugin of its own):

- `GET /bench/plain`: a plain-text Litestar route, the ceiling of the framework and server;
- `GET /<commune>/bench/fixe/factures` and `/<commune>/bench/fixe/factures/<id>`: the same
  templates as "Mes factures" and an invoice's detail, through the same `page()` call, with data
  read once at the first request and kept (no session lookup, no database afterwards).

Not run by hand: `bench/pages.py` starts it with `core.server.run_server`.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from core.accounts.sessions import COOKIE_NAME, signed_in
from core.app import create_app
from core.communes.context import CommuneContext
from core.hookspecs import hookimpl
from core.invoices import controllers, services
from core.settings import Settings
from core.web.pages import page
from core.web.render import wants_fragment


class FixedData:
    """What the reference routes render: read at the first request, then kept."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def account(self, request: Request, commune: CommuneContext) -> Any:
        if "account" not in self.values:
            account = await signed_in(request.cookies.get(COOKIE_NAME), commune.id)
            if account is None:
                raise NotFoundException()
            self.values["account"] = account
        return self.values["account"]

    async def kept(self, key: str, read: Any) -> Any:
        if key not in self.values:
            self.values[key] = await read()
        return self.values[key]


class BenchRoutes:
    @hookimpl
    def register_routes(self) -> list[Any]:
        fixed = FixedData()

        @get("/bench/plain", media_type=MediaType.TEXT, sync_to_thread=False)
        def plain() -> str:
            return "Hello, world!"

        class FixedPages(Controller):
            path = "/{slug:str}/bench/fixe"

            @get("/factures")
            async def invoices(self, request: Request, commune: CommuneContext) -> Template:
                account = await fixed.account(request, commune)
                listing = await fixed.kept(
                    "listing",
                    lambda: services.list_invoices(commune.id, account.account_id, services.TO_PAY),
                )
                urls = controllers.tab_urls(commune)
                fragment = wants_fragment(request, controllers.LIST_BLOCK)
                return page(
                    request,
                    commune,
                    controllers.LIST_TEMPLATE,
                    account=account,
                    block=controllers.LIST_BLOCK,
                    current_path=commune.url("factures"),
                    fragment=fragment,
                    focus_table=False,
                    listing=listing,
                    tab=services.TO_PAY,
                    tab_urls=urls,
                    list_url=urls[services.TO_PAY],
                )

            @get("/factures/{invoice_id:int}")
            async def detail(
                self, request: Request, commune: CommuneContext, invoice_id: int
            ) -> Template:
                account = await fixed.account(request, commune)
                invoice = await fixed.kept(
                    f"invoice {invoice_id}",
                    lambda: services.get_invoice(commune.id, account.account_id, invoice_id),
                )
                actions = await fixed.kept(
                    f"actions {invoice_id}", lambda: services.actions_for(commune, invoice, account)
                )
                return page(
                    request,
                    commune,
                    controllers.DETAIL_TEMPLATE,
                    account=account,
                    block=controllers.DETAIL_BLOCK,
                    current_path=commune.url("factures"),
                    fragment=wants_fragment(request, controllers.DETAIL_BLOCK),
                    invoice=invoice,
                    actions=actions,
                    tab_urls=controllers.tab_urls(commune),
                )

        return [plain, FixedPages]


def create_bench_app() -> Any:
    """The portal's app (settings and communes from the environment) with the bench routes."""
    return create_app(Settings.from_env(), extra_plugins=[("bench", BenchRoutes())])
