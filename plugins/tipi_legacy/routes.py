"""TIPI's return: `GET|POST /<commune>/tipi/retour`, with the fields of payfip.md §1.

Nothing in it is signed, so it settles nothing: the attempt named by `refdet` must be one this
portal created for TIPI, and a "paid" (`P`) that matches its numcli, amount and saisie is
recorded as declared ("paiement déclaré, à confirmer"); the next import confirms it. A mismatch
goes to review. Then the browser goes on to the result page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from litestar import Controller, Request, route
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from core.communes.context import CommuneContext
from core.hookspecs import PaymentOutcome
from core.payments import services
from core.security import throttle
from core.web.dependencies import mailer
from core.web.formatting import TIMEZONE
from core.web.security import client_ip
from plugins.tipi_legacy import PLUGIN_NAME

RETURNS = throttle.Limit("tipi_return", max_hits=60, window_seconds=60)
RESULTS = {"P": "paid", "V": "paid", "R": "refused", "Z": "refused", "A": "abandoned"}
FIELDS = (
    "numcli", "exer", "refdet", "objet", "montant", "mel", "saisie",
    "resultrans", "numauto", "dattrans", "heurtrans",
)  # fmt: skip


def outcome_from(fields: Mapping[str, str]) -> PaymentOutcome:
    """What the browser brought back, unverified."""
    code = fields.get("resultrans", "")
    amount = fields.get("montant", "")
    return PaymentOutcome(
        result=RESULTS.get(code, "unknown"),  # type: ignore[arg-type]
        code=code,
        verified=False,
        numcli=fields.get("numcli", ""),
        refdet=fields.get("refdet", ""),
        amount_cents=int(amount) if amount.isdigit() and len(amount) < 12 else None,
        saisie=fields.get("saisie", ""),
        authorisation_number=fields.get("numauto", ""),
        transaction_at=transaction_time(fields.get("dattrans", ""), fields.get("heurtrans", "")),
        by_direct_debit=code in {"V", "Z"},
        raw=dict(fields),
    )


def transaction_time(dattrans: str, heurtrans: str) -> dt.datetime | None:
    """DDMMYYYY and HHMM, Paris time; None when absent or malformed."""
    try:
        moment = dt.datetime.strptime(dattrans + heurtrans.rjust(4, "0"), "%d%m%Y%H%M")
    except ValueError:
        return None
    return moment.replace(tzinfo=TIMEZONE)


class TipiController(Controller):
    path = "/{slug:str}/tipi"

    @route(
        "/retour",
        http_method=["GET", "POST"],
        name="tipi_return",
        exclude_from_csrf=True,
        status_code=303,
    )
    async def browser_return(self, request: Request, commune: CommuneContext) -> Redirect:
        if not commune.enabled(PLUGIN_NAME):
            raise NotFoundException()
        settings = request.app.state.portal.settings
        if not await throttle.hit(client_ip(request, settings.trust_proxy_headers), RETURNS):
            return Redirect(path=commune.url("paiements"), status_code=303)
        pairs = dict(request.query_params.items())
        if request.method == "POST":
            form = await request.form()
            pairs.update({k: v for k, v in form.items() if isinstance(v, str)})
        fields = {key: str(pairs.get(key, ""))[:200].strip() for key in FIELDS}
        attempt = await services.get_attempt(commune.id, fields["refdet"][:30])
        if attempt is None or attempt.provider != PLUGIN_NAME:
            return Redirect(path=commune.url("paiements"), status_code=303)
        await services.apply_outcome(commune, attempt.id, outcome_from(fields), mailer(request))
        return Redirect(path=commune.url(f"paiement/{attempt.refdet}"), status_code=303)
