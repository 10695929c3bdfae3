"""`/<commune>/gestion/paiements-tipi`: the declared TIPI payments (`payments.read`); 404 where
TIPI is off."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.web.dependencies import commune_with
from plugins.tipi_legacy.declared import declared_page
from plugins.tipi_legacy.provider import PLUGIN_NAME

SECTION_PATH = "paiements-tipi"


class TipiDeclaredController(BackofficeController):
    path = f"/{{slug:str}}/gestion/{SECTION_PATH}"
    dependencies = {  # noqa: RUF012 - Litestar reads a dict here
        **BackofficeController.dependencies,
        "commune": commune_with(PLUGIN_NAME),
    }

    @get("/", name="tipi_declared_backoffice", opt=permission("payments.read"))
    async def list_declared(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, page: int = 1
    ) -> Template:
        listing = await declared_page(commune.id, page)
        return backoffice_page(
            request,
            commune,
            agent,
            "tipi_legacy/declared.html",
            block="declared_list",
            listing=listing,
            list_url=commune.url(f"gestion/{SECTION_PATH}"),
        )
