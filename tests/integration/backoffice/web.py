"""Helpers of the back office's web tests: agents created as `portail agent create` does, who
set their password from the e-mailed link and sign in through the pages (TOTP included)."""

from __future__ import annotations

import re
from typing import Any

import pyotp

from core.backoffice.agents import create_agent
from core.backoffice.journal import Actor
from core.backoffice.tables import ADMINISTRATEUR, SUPERVISEUR
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from tests.integration.backoffice.conftest import last_link_to
from tests.integration.conftest import CSRF_PATTERN, GOOD_PASSWORD, Portal

SECRET_PATTERN = re.compile(r'<code class="secret-key">([A-Z2-7]+)</code>')


def commune_of(portal: Portal, slug: str) -> CommuneContext:
    """The commune as the running app resolved it (its database id known)."""
    app_portal = portal.client._transport.app.state.portal  # type: ignore[attr-defined]
    return app_portal.commune(slug)  # type: ignore[no-any-return]


def app_mailer(portal: Portal) -> Mailer:
    app_portal = portal.client._transport.app.state.portal  # type: ignore[attr-defined]
    return Mailer(env=app_portal.env, base_url=portal.settings.base_url)


async def create_web_agent(
    portal: Portal, slug: str | None, email: str, role: str, *, link_slug: str = "boe"
) -> str:
    """Create an agent (a superviseur when `slug` is None) and set its password through the
    page behind the e-mailed link; returns the commune slug the link belongs to."""
    commune = commune_of(portal, slug) if slug else None
    site = commune or commune_of(portal, link_slug)
    await create_agent(
        commune,
        email,
        role,
        f"Agent {role}",
        app_mailer(portal),
        Actor.command_line(),
        link_commune=None if commune else site,
    )
    link = await last_link_to(email)
    response = await portal.post_form(
        link, {"password": GOOD_PASSWORD, "confirmation": GOOD_PASSWORD}
    )
    assert response.status_code == 303, response.text
    return site.slug


async def agent_login(portal: Portal, slug: str, email: str) -> Any:
    """Post the back-office login form; the response is not followed."""
    return await portal.post_form(
        f"/{slug}/gestion/connexion", {"email": email, "password": GOOD_PASSWORD}
    )


async def enrol_totp(portal: Portal, slug: str) -> tuple[pyotp.TOTP, list[str]]:
    """Enrol TOTP from the enrolment page; returns the authenticator and the recovery codes."""
    page = await portal.client.get(f"/{slug}/gestion/double-authentification")
    match = SECRET_PATTERN.search(page.text)
    assert match, page.text
    authenticator = pyotp.TOTP(match.group(1))
    # The form's own token: getting the page again would draw another secret.
    token = CSRF_PATTERN.search(page.text)
    assert token
    response = await portal.client.post(
        f"/{slug}/gestion/double-authentification",
        data={"code": authenticator.now(), "_csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 200, response.text
    codes = re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", response.text)
    return authenticator, codes


async def signed_in_agent(portal: Portal, slug: str, email: str, role: str) -> None:
    """An agent of `slug` with `role`, signed in to the back office (TOTP enrolled for the roles
    that must have it)."""
    await create_web_agent(
        portal, None if role == SUPERVISEUR else slug, email, role, link_slug=slug
    )
    response = await agent_login(portal, slug, email)
    assert response.status_code == 303, response.text
    if role in (ADMINISTRATEUR, SUPERVISEUR):
        await enrol_totp(portal, slug)
