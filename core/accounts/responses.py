"""What the account pages share: the signed-in redirect, a form shown again with its errors,
the page behind an activation or reset link, work done after the answer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response
from litestar.background_tasks import BackgroundTask
from litestar.response import Redirect, Template

from core.accounts import services
from core.accounts.sessions import COOKIE_NAME, end_session, open_session, session_cookie
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.security import audit
from core.security.tokens import digest
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import Problems, RateLimited, form_fields
from core.web.pages import page

logger = logging.getLogger(__name__)


async def signed_in_redirect(
    request: Request,
    commune: CommuneContext,
    settings: Settings,
    account_id: int,
    auth_version: int,
    *,
    persistent: bool,
    target: str,
    display_name: str | None = None,
) -> Response[Any]:
    """Open a fresh session (a new id at every login) and go to `target` (`display_name`: see
    `open_session`)."""
    old = request.cookies.get(COOKIE_NAME)
    if old:
        await end_session(digest(old))
    secret = await open_session(
        account_id,
        auth_version,
        persistent=persistent,
        user_agent=request.headers.get("user-agent", ""),
        display_name=display_name,
    )
    response: Response[Any] = Redirect(path=target, status_code=303)
    response.set_cookie(
        session_cookie(commune.root, secret, persistent=persistent, secure=settings.secure_cookies)
    )
    return response


async def password_form(
    request: Request, commune: CommuneContext, token: str, purpose: str
) -> Template:
    """The form behind an activation or reset link, or the page saying the link is invalid."""
    valid = await services.valid_token(commune, token, purpose)
    if valid is None:
        return page(request, commune, "auth/link_invalid.html", purpose=purpose, status_code=410)
    return page(
        request,
        commune,
        "auth/set_password.html",
        purpose=purpose,
        token=token,
        email=valid["email"],
    )


def form_error(
    request: Request,
    commune: CommuneContext,
    template: str,
    exc: Problems | RateLimited,
    form: dict[str, str],
    *,
    keep: tuple[str, ...] = (),
    **context: Any,
) -> Template:
    """Show the form again with its errors and what the parent typed (never passwords)."""
    if isinstance(exc, RateLimited):
        errors, status = {"form": [str(exc)]}, 429
    else:
        errors, status = exc.errors, 422
    if "token" in errors:
        return page(request, commune, "auth/link_invalid.html", status_code=410, **context)
    values = {name: form.get(name, "") for name in keep}
    return page(
        request, commune, template, errors=errors, values=values, status_code=status, **context
    )


async def answer_link_request(
    request: Request,
    commune: CommuneContext,
    settings: Settings,
    mailer: Mailer,
    *,
    template: str,
    sent_path: str,
    send_link: Callable[[CommuneContext, str, Mailer], Awaitable[None]],
    event: str,
) -> Response[Any]:
    """An activation or reset request: check the address and the limits (the same work for any
    address), answer, and only then look the address up and send its link. The security log
    says `event` accepted or throttled, never whether the address is known."""
    form = await form_fields(request)
    client = client_address(request, settings)
    try:
        email = await services.accept_link_request(commune, form.get("email", ""), client)
    except (Problems, RateLimited) as exc:
        if isinstance(exc, RateLimited):
            audit.record(
                event, "throttled", commune=commune.slug, client=client, email=form.get("email")
            )
        return form_error(request, commune, template, exc, form, keep=("email",))
    audit.record(event, "accepted", commune=commune.slug, client=client, email=email)
    return redirect_then(commune.url(sent_path), send_link, commune, email, mailer)


def after_link(
    request: Request,
    commune: CommuneContext,
    settings: Settings,
    event: str,
    done: tuple[int, int] | Problems,
) -> None:
    """Log the outcome of a password chosen behind an activation or reset link."""
    client = client_address(request, settings)
    if isinstance(done, Problems):
        reason = "link" if "token" in done.errors else "password"
        audit.record(event, "failure", commune=commune.slug, client=client, reason=reason)
    else:
        audit.record(event, "success", commune=commune.slug, client=client, account=done[0])


def redirect_then(target: str, work: Callable[..., Awaitable[None]], *args: Any) -> Redirect:
    """A 303 to `target`, sent before `work(*args)` runs: the answer, its content and its
    timing, do not depend on what the work finds. Errors of the work are logged."""

    async def run() -> None:
        try:
            await work(*args)
        except Exception:
            logger.exception("%s failed after the answer", getattr(work, "__name__", work))

    return Redirect(path=target, status_code=303, background=BackgroundTask(run))
