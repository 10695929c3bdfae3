"""`/<commune>/gestion/dematerialisation`: the opt-outs, a page at a time (`families.read`), and
their CSV export (`exports.personal`); 404 where the plugin is off."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Stream, Template

from core.backoffice.roles import can
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.i18n import t
from core.web.dependencies import commune_with
from plugins.paper_optout.backoffice import export_csv, optout_page
from plugins.paper_optout.settings import PLUGIN_NAME

SECTION_PATH = "dematerialisation"


class PaperOptoutBackofficeController(BackofficeController):
    path = f"/{{slug:str}}/gestion/{SECTION_PATH}"
    dependencies = {  # noqa: RUF012 - Litestar reads a dict here
        **BackofficeController.dependencies,
        "commune": commune_with(PLUGIN_NAME),
    }

    @get("/", name="paper_optout_backoffice", opt=permission("families.read"))
    async def list_optouts(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, page: int = 1
    ) -> Template:
        listing = await optout_page(commune.id, page)
        return backoffice_page(
            request,
            commune,
            agent,
            "paper_optout/backoffice.html",
            block="optout_list",
            listing=listing,
            list_url=commune.url(f"gestion/{SECTION_PATH}"),
            may_export=can(agent.agent, "exports.personal"),
        )

    @get("/export", name="paper_optout_export", opt=permission("exports.personal"))
    async def export_optouts(self, commune: CommuneContext, agent: SignedInAgent) -> Stream:
        filename = t("paper_optout.backoffice.export_filename", slug=commune.slug)
        return Stream(
            export_csv(commune.id),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )
