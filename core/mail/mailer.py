"""`Mailer`: what handlers and services use to send an e-mail (through the outbox)."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from core.communes.context import CommuneContext
from core.mail.outbox import enqueue
from core.mail.render import render_email


@dataclass(frozen=True)
class Mailer:
    """Renders an e-mail template and puts the message in the outbox."""

    env: jinja2.Environment
    base_url: str

    async def send(
        self, commune: CommuneContext, template: str, to: str, **context: object
    ) -> None:
        email = render_email(
            self.env, template, commune=commune.config, base_url=self.base_url, **context
        )
        await enqueue(to, email.subject, email.text, body_html=email.html, commune_id=commune.id)

    def link(self, commune: CommuneContext, path: str) -> str:
        return self.base_url.rstrip("/") + commune.url(path)
