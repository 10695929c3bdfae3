"""The pages every commune publishes, open to anyone (signed in or not), and the source archive.

Their texts are in the templates (`templates/legal/`); what they state about the portal's own
behaviour (retention periods, cookies, version) comes from `core.legal.facts`.
"""

from __future__ import annotations

import asyncio

from litestar import Controller, Request, Response, get
from litestar.response import Template

from core.communes.context import CommuneContext
from core.config import DATA_PROTECTION_FIELDS, PUBLISHER_FIELDS
from core.legal import facts
from core.legal.source import archive_name, source_archive
from core.payments.providers import providers
from core.settings import Settings
from core.version import software_version
from core.web.identity import SignedIn
from core.web.pages import page

# Public: the same for everyone, so a cache may keep it for a while.
PUBLIC_CACHE = "public, max-age=3600"


class LegalController(Controller):
    path = "/{slug:str}"

    @get("/mentions-legales", name="legal_notice")
    async def legal_notice(
        self, request: Request, commune: CommuneContext, current_account: SignedIn | None
    ) -> Template:
        return page(
            request,
            commune,
            "legal/mentions_legales.html",
            account=current_account,
            legal=commune.config.legal,
            missing=commune.config.legal.missing(PUBLISHER_FIELDS),
            version=software_version(),
        )

    @get("/donnees-personnelles", name="privacy_notice")
    async def privacy_notice(
        self,
        request: Request,
        commune: CommuneContext,
        current_account: SignedIn | None,
        settings: Settings,
    ) -> Template:
        return page(
            request,
            commune,
            "legal/donnees_personnelles.html",
            account=current_account,
            legal=commune.config.legal,
            missing=commune.config.legal.missing(DATA_PROTECTION_FIELDS),
            retention=facts.retentions(settings),
            cookies=facts.cookies(),
            payment_labels=[provider.label for provider in providers(commune).values()],
            paper_optout=commune.enabled("paper_optout"),
        )

    @get("/accessibilite", name="accessibility_statement")
    async def accessibility_statement(
        self, request: Request, commune: CommuneContext, current_account: SignedIn | None
    ) -> Template:
        return page(
            request,
            commune,
            "legal/accessibilite.html",
            account=current_account,
            legal=commune.config.legal,
            payment_labels=[provider.label for provider in providers(commune).values()],
        )

    @get("/aide", name="help")
    async def help_page(
        self, request: Request, commune: CommuneContext, current_account: SignedIn | None
    ) -> Template:
        offered = list(providers(commune).values())
        return page(
            request,
            commune,
            "legal/aide.html",
            account=current_account,
            payment_labels=[provider.label for provider in offered],
            direct_debit=any(provider.direct_debit for provider in offered),
            prelevement=commune.enabled("prelevement"),
            paper_optout=commune.enabled("paper_optout"),
        )


class SourceController(Controller):
    @get("/code-source.tar.gz", name="source_archive")
    async def source(self) -> Response[bytes]:
        """The running version's source (AGPL), unless `source_url` points elsewhere."""
        # Built once per process (about a tenth of a second), off the event loop.
        return Response(
            content=await asyncio.to_thread(source_archive),
            media_type="application/gzip",
            headers={
                "Content-Disposition": f'attachment; filename="{archive_name()}"',
                "Cache-Control": PUBLIC_CACHE,
            },
        )
