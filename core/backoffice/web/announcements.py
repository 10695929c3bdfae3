"""Message important and Actualités: what parents read on their home page, written, previewed,
published, withdrawn and deleted by the agents (`messages.write` for every route).

Every action is a form (POST, then a redirect with a notice); "Aperçu" re-renders the page with
the text as parents will see it, without saving, and htmx swaps only the preview block.
Deleting asks a second click in a `<details>`: no script needed.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from core.announcements import services
from core.announcements.services import AnnouncementError, Shown
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, backoffice_root, permission
from core.backoffice.web.pages import backoffice_page
from core.clock import now
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.news_alerts import services as news_alerts
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import form_fields
from core.web.render import wants_fragment

MESSAGE_TEMPLATE = "backoffice/announcements.html"
NEWS_LIST_TEMPLATE = "backoffice/news_list.html"
NEWS_FORM_TEMPLATE = "backoffice/news_form.html"
PREVIEW_BLOCK = "preview"
WRITE = permission("messages.write")


def _redirect(commune: CommuneContext, path: str, info: str) -> Redirect:
    return Redirect(path=f"{backoffice_root(commune)}{path}?info={info}", status_code=303)


def _typed(form: dict[str, str]) -> dict[str, str]:
    return {"title": form.get("title", ""), "body": form.get("body", "")}


def _page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


class ImportantMessageController(BackofficeController):
    path = "/{slug:str}/gestion/message-important"

    @get("/", name="backoffice_important_message", opt=WRITE)
    async def show_message(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        return await _message_page(request, commune, agent)

    @post("/", opt=WRITE)
    async def save_message(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, settings: Settings
    ) -> Response[Any]:
        """Save the text; a published message changes for parents at once (new version)."""
        typed = _typed(await form_fields(request))
        try:
            await services.set_message(
                commune.id,
                typed["body"],
                typed["title"],
                publish=None,
                actor=agent.agent.actor(client_address(request, settings)),
            )
        except AnnouncementError as exc:
            return await _message_page(request, commune, agent, typed, exc, status_code=422)
        return _redirect(commune, "message-important", "message_saved")

    @post("/apercu", opt=WRITE)
    async def preview_message(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        """The text as parents would see it, nothing saved (htmx: the preview block only)."""
        typed = _typed(await form_fields(request))
        try:
            services.check(typed["title"], typed["body"], title_required=False)
        except AnnouncementError as exc:
            return await _message_page(request, commune, agent, typed, exc, status_code=422)
        return await _message_page(request, commune, agent, typed, preview=True)

    @post("/publier", opt=WRITE)
    async def publish_message(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, settings: Settings
    ) -> Response[Any]:
        actor = agent.agent.actor(client_address(request, settings))
        if not await services.set_message_published(commune.id, True, actor):
            raise NotFoundException()
        return _redirect(commune, "message-important", "message_published")

    @post("/depublier", opt=WRITE)
    async def unpublish_message(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, settings: Settings
    ) -> Response[Any]:
        actor = agent.agent.actor(client_address(request, settings))
        if not await services.set_message_published(commune.id, False, actor):
            raise NotFoundException()
        return _redirect(commune, "message-important", "message_unpublished")

    @post("/supprimer", opt=WRITE)
    async def delete_message(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, settings: Settings
    ) -> Response[Any]:
        actor = agent.agent.actor(client_address(request, settings))
        if not await services.clear_message(commune.id, actor):
            raise NotFoundException()
        return _redirect(commune, "message-important", "message_deleted")


async def _message_page(
    request: Request,
    commune: CommuneContext,
    agent: SignedInAgent,
    typed: dict[str, str] | None = None,
    error: AnnouncementError | None = None,
    *,
    preview: bool = False,
    status_code: int = 200,
) -> Template:
    current = await services.current_message(commune.id)
    if typed is None:
        typed = {"title": current.title, "body": current.body} if current else {}
    block = PREVIEW_BLOCK if preview or error else None
    return backoffice_page(
        request,
        commune,
        agent,
        MESSAGE_TEMPLATE,
        block=block,
        fragment=wants_fragment(request, block),
        status_code=status_code,
        current=current,
        values=typed,
        errors={error.field: [str(error)]} if error else {},
        preview=preview,
        title_max=services.TITLE_MAX_LENGTH,
        body_max=services.BODY_MAX_LENGTH,
    )


class NewsController(BackofficeController):
    path = "/{slug:str}/gestion/actualites"

    @get("/", name="backoffice_news", opt=WRITE)
    async def list_news(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        listing = await services.news_page(commune.id, _page_number(request))
        return backoffice_page(request, commune, agent, NEWS_LIST_TEMPLATE, listing=listing)

    @get("/nouvelle", name="backoffice_news_new", opt=WRITE)
    async def new_news(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        return _news_page(request, commune, agent, None, {})

    @post("/nouvelle", opt=WRITE)
    async def create_news(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, settings: Settings
    ) -> Response[Any]:
        """A new item is a draft: the agent previews it, then publishes it."""
        typed = _typed(await form_fields(request))
        try:
            news_id = await services.add_news(
                commune.id,
                typed["title"],
                typed["body"],
                publish=False,
                actor=agent.agent.actor(client_address(request, settings)),
            )
        except AnnouncementError as exc:
            return _news_page(request, commune, agent, None, typed, exc, status_code=422)
        return _redirect(commune, f"actualites/{news_id}", "news_saved")

    @post("/nouvelle/apercu", opt=WRITE)
    async def preview_new_news(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        return _news_preview(request, commune, agent, None, await form_fields(request))

    @get("/{news_id:int}", name="backoffice_news_item", opt=WRITE)
    async def edit_news(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, news_id: int
    ) -> Template:
        item = await _news_or_404(commune, news_id)
        return _news_page(
            request,
            commune,
            agent,
            item,
            {"title": item.title, "body": item.body},
            mailing=await news_alerts.mailing_of(news_id),
            subscribers=await news_alerts.subscriber_count(commune.id),
        )

    @post("/{news_id:int}", opt=WRITE)
    async def update_news(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        news_id: int,
    ) -> Response[Any]:
        item = await _news_or_404(commune, news_id)
        typed = _typed(await form_fields(request))
        actor = agent.agent.actor(client_address(request, settings))
        try:
            await services.update_news(commune.id, news_id, typed["title"], typed["body"], actor)
        except AnnouncementError as exc:
            return _news_page(request, commune, agent, item, typed, exc, status_code=422)
        return _redirect(commune, f"actualites/{news_id}", "news_saved")

    @post("/{news_id:int}/apercu", opt=WRITE)
    async def preview_news(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, news_id: int
    ) -> Template:
        item = await _news_or_404(commune, news_id)
        return _news_preview(request, commune, agent, item, await form_fields(request))

    @post("/{news_id:int}/publier", opt=WRITE)
    async def publish_news(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        news_id: int,
    ) -> Response[Any]:
        actor = agent.agent.actor(client_address(request, settings))
        if not await services.set_news_published(commune.id, news_id, True, actor):
            raise NotFoundException()
        return _redirect(commune, f"actualites/{news_id}", "news_published")

    @post("/{news_id:int}/depublier", opt=WRITE)
    async def unpublish_news(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        news_id: int,
    ) -> Response[Any]:
        actor = agent.agent.actor(client_address(request, settings))
        if not await services.set_news_published(commune.id, news_id, False, actor):
            raise NotFoundException()
        return _redirect(commune, f"actualites/{news_id}", "news_unpublished")

    @post("/{news_id:int}/envoyer", opt=WRITE)
    async def email_news(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        mailer: Mailer,
        news_id: int,
    ) -> Response[Any]:
        """E-mail a published item to the families who asked for the news, once: a second
        click (or two at once) sends nothing more."""
        actor = agent.agent.actor(client_address(request, settings))
        try:
            sending = await news_alerts.send_news(
                commune, news_id, mailer, settings.secret_key, actor
            )
        except news_alerts.NewsNotSendable:
            await _news_or_404(commune, news_id)
            return _redirect(commune, f"actualites/{news_id}", "news_not_emailed")
        info = "news_emailed" if sending.sent else "news_already_emailed"
        return _redirect(commune, f"actualites/{news_id}", info)

    @post("/{news_id:int}/supprimer", opt=WRITE)
    async def delete_news(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
        news_id: int,
    ) -> Response[Any]:
        actor = agent.agent.actor(client_address(request, settings))
        if not await services.delete_news(commune.id, news_id, actor):
            raise NotFoundException()
        return _redirect(commune, "actualites", "news_deleted")


async def _news_or_404(commune: CommuneContext, news_id: int) -> Shown:
    """The commune's item; another commune's, or none, is a plain 404."""
    item = await services.get_news(commune.id, news_id)
    if item is None:
        raise NotFoundException()
    return item


def _news_preview(
    request: Request,
    commune: CommuneContext,
    agent: SignedInAgent,
    item: Shown | None,
    form: dict[str, str],
) -> Template:
    typed = _typed(form)
    try:
        services.check(typed["title"], typed["body"], title_required=True)
    except AnnouncementError as exc:
        return _news_page(request, commune, agent, item, typed, exc, status_code=422)
    return _news_page(request, commune, agent, item, typed, preview=True)


def _news_page(
    request: Request,
    commune: CommuneContext,
    agent: SignedInAgent,
    item: Shown | None,
    typed: dict[str, str],
    error: AnnouncementError | None = None,
    *,
    preview: bool = False,
    status_code: int = 200,
    mailing: news_alerts.Mailing | None = None,
    subscribers: int | None = None,
) -> Template:
    block = PREVIEW_BLOCK if preview or error else None
    return backoffice_page(
        request,
        commune,
        agent,
        NEWS_FORM_TEMPLATE,
        mailing=mailing,
        subscribers=subscribers,
        block=block,
        fragment=wants_fragment(request, block),
        status_code=status_code,
        item=item,
        # A draft would be dated the day it is published: today, for the preview.
        preview_day=item.published_at if item and item.published else now(),
        values=typed,
        errors={error.field: [str(error)]} if error else {},
        preview=preview,
        title_max=services.TITLE_MAX_LENGTH,
        body_max=services.BODY_MAX_LENGTH,
    )
