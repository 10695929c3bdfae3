"""`Mailer`: what handlers and services use to send an e-mail (through the outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
        self,
        commune: CommuneContext,
        template: str,
        to: str,
        *,
        expires_at: datetime | None = None,
        **context: object,
    ) -> None:
        """Queue the e-mail `template` to `to`; `expires_at`: when a link it carries expires
        (the message is then not sent any more); None for a message that never expires."""
        email = render_email(
            self.env, template, commune=commune.config, base_url=self.base_url, **context
        )
        await enqueue(
            to,
            email.subject,
            email.text,
            body_html=email.html,
            commune_id=commune.id,
            expires_at=expires_at,
        )

    def link(self, commune: CommuneContext, path: str) -> str:
        return self.base_url.rstrip("/") + commune.url(path)
