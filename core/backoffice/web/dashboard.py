"""Tableau de bord: the figures a billing service and its elected officials look at."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from core.backoffice.dashboard import dashboard
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext


class DashboardController(BackofficeController):
    path = "/{slug:str}/gestion"

    @get("/", name="backoffice_dashboard", opt=permission("dashboard.read"))
    async def show_dashboard(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        figures = await dashboard(commune.id)
        return backoffice_page(
            request, commune, agent, "backoffice/dashboard.html", figures=figures
        )
