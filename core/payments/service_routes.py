"""The payment services' ways back to the portal, for every provider: the server-to-server
notification and the parent's browser returning from the payment page.

- `POST /<commune>/paiement/<provider>/notification`: the service's notification. No CSRF (the
  service posts it). The provider names the attempt (`read_notification`); the core asks the
  service about it (`checks.notified`). An attempt this portal did not create for the provider,
  or a duplicate arriving while its attempt is being checked, is answered at once; only the
  notifications that make the portal ask the service are rate-limited per address. An empty
  200 in every case but the limit (429).
- `GET|POST /<commune>/paiement/<provider>/retour`: the browser, back from the payment page
  (no CSRF either: the service may send it back with a cross-site POST). The provider names the
  attempt (`read_return`); the core asks the service (`checks.refresh`, which asks an attempt
  at most every few seconds, whoever asks) or, for a service that cannot be asked, applies the
  result the return brings as unverified. Returns that name something are rate-limited per
  address (a limited one goes to "Mes paiements" without a look-up). Then a GET redirect to the
  result page, which updates itself until the result is final, or to "Mes paiements" when no
  attempt is named.

Both answer 404 where the commune offers no such provider. Nothing is settled from a request's
parameters: only the service's own answer settles (`core.payments.settlement`).

The addresses the services were given before these routes existed (`/<commune>/payfip/…`,
`/<commune>/tipi/retour`) still answer, as aliases, so a payment started before an upgrade
still notifies and returns where it was told to.
"""

from __future__ import annotations

import dataclasses

from litestar import Controller, Request, Response, post, route
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from core.communes.context import CommuneContext
from core.hookspecs import PaymentNotice, PaymentProvider, ServiceCall
from core.payments import attempts, checks, settlement
from core.payments.attempts import AttemptView
from core.payments.providers import providers
from core.security import throttle
from core.web.dependencies import client_address, mailer, provide_settings

NOTIFICATIONS = throttle.Limit("payment_notification", max_hits=120, window_seconds=60)
# Returns naming an operation, per client address: a parent comes back once per payment, so a
# replayed return cannot make the portal look attempts up or ask the service without end.
RETURNS = throttle.Limit("payment_return", max_hits=20, window_seconds=60)


async def service_call(request: Request) -> ServiceCall:
    """The request's query parameters and, for a form-encoded POST, its text fields."""
    query = [(key, value) for key, value in request.query_params.items()]
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        body = await request.form()
        form = [(key, value) for key, value in body.multi_items() if isinstance(value, str)]
    return ServiceCall(query=query, form=form)


def _provider(commune: CommuneContext, name: str) -> PaymentProvider:
    """The commune's provider of that name; 404 where its plugin is not enabled."""
    provider = providers(commune).get(name)
    if provider is None:
        raise NotFoundException()
    return provider


async def _attempt(
    commune: CommuneContext, provider: PaymentProvider, notice: PaymentNotice | None
) -> AttemptView | None:
    """The attempt the notice names, if this portal created it for `provider`."""
    if notice is None:
        return None
    if notice.provider_reference:
        return await attempts.find_by_provider_reference(
            commune.id, provider.name, notice.provider_reference
        )
    attempt = await attempts.get_attempt(commune.id, notice.refdet)
    return attempt if attempt is not None and attempt.provider == provider.name else None


def _address(request: Request) -> str:
    return client_address(request, provide_settings(request))


def _empty(status_code: int = 200) -> Response[bytes]:
    return Response(content=b"", status_code=status_code, media_type="text/plain")


async def receive_notification(
    request: Request, commune: CommuneContext, provider_name: str
) -> Response[bytes]:
    provider = _provider(commune, provider_name)
    notice = provider.read_notification(await service_call(request))
    attempt = await _attempt(commune, provider, notice)
    if notice is None or attempt is None:  # not an attempt this portal created: nothing to do
        return _empty()
    address = _address(request)

    async def allowed() -> bool:  # counted only when something is about to be done
        return await throttle.hit(address, NOTIFICATIONS)

    if notice.outcome is not None:
        if not await allowed():
            return _empty(429)
        unverified = dataclasses.replace(notice.outcome, verified=False)
        await settlement.apply_outcome(commune, attempt.id, unverified, mailer(request))
    elif not await checks.notified(commune, attempt, mailer(request), allowed):
        return Response(content=b"", status_code=429)
    return _empty()


async def receive_return(request: Request, commune: CommuneContext, provider_name: str) -> Redirect:
    provider = _provider(commune, provider_name)
    notice = provider.read_return(await service_call(request))
    if notice is not None and not await throttle.hit(_address(request), RETURNS):
        return Redirect(path=commune.url("paiements"), status_code=303)
    attempt = await _attempt(commune, provider, notice)
    if notice is None or attempt is None:
        return Redirect(path=commune.url("paiements"), status_code=303)
    if notice.outcome is not None:
        unverified = dataclasses.replace(notice.outcome, verified=False)
        await settlement.apply_outcome(commune, attempt.id, unverified, mailer(request))
    else:
        await checks.refresh(commune, attempt, mailer(request))
    # A GET, so the session cookie (SameSite=Lax) comes with it even after a cross-site POST.
    return Redirect(path=commune.url(f"paiement/{attempt.refdet}"), status_code=303)


class PaymentServiceController(Controller):
    path = "/{slug:str}"

    @post(
        "/paiement/{provider:str}/notification",
        name="payment_notification",
        exclude_from_csrf=True,
        status_code=200,
    )
    async def notification(
        self, request: Request, commune: CommuneContext, provider: str
    ) -> Response[bytes]:
        return await receive_notification(request, commune, provider)

    @route(
        "/paiement/{provider:str}/retour",
        http_method=["GET", "POST"],
        name="payment_return",
        exclude_from_csrf=True,
        status_code=303,
    )
    async def browser_return(
        self, request: Request, commune: CommuneContext, provider: str
    ) -> Redirect:
        return await receive_return(request, commune, provider)

    # --- The addresses given before the routes above, kept for the payments started then ---

    @post(
        "/payfip/notification",
        name="payfip_notification",
        exclude_from_csrf=True,
        status_code=200,
    )
    async def payfip_notification(
        self, request: Request, commune: CommuneContext
    ) -> Response[bytes]:
        return await receive_notification(request, commune, "payfip")

    @route(
        "/payfip/retour",
        http_method=["GET", "POST"],
        name="payfip_return",
        exclude_from_csrf=True,
        status_code=303,
    )
    async def payfip_return(self, request: Request, commune: CommuneContext) -> Redirect:
        return await receive_return(request, commune, "payfip")

    @route(
        "/tipi/retour",
        http_method=["GET", "POST"],
        name="tipi_return",
        exclude_from_csrf=True,
        status_code=303,
    )
    async def tipi_return(self, request: Request, commune: CommuneContext) -> Redirect:
        return await receive_return(request, commune, "tipi_legacy")
