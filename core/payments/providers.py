"""Which payment service pays a régie's invoices."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import urlsplit

from core.communes.context import CommuneContext
from core.hookspecs import PaymentProvider


def providers(commune: CommuneContext) -> Mapping[str, PaymentProvider]:
    """The payment services the commune's enabled plugins offer, by name.

    Asked of the plugins once per commune context (a new configuration makes new contexts):
    they build their services from the commune's settings alone (`payment_providers`), and
    every invoice detail needs them, which would otherwise be a hook call per request.
    """
    return commune.kept("payment_providers", lambda: MappingProxyType(_offered(commune)))


def _offered(commune: CommuneContext) -> dict[str, PaymentProvider]:
    groups = commune.hooks.payment_providers(commune=commune)
    return {provider.name: provider for group in groups if group for provider in group}


def provider_for_regie(commune: CommuneContext, regie_code: str) -> PaymentProvider | None:
    """The service paying this régie: the one it names, else the commune's only one.

    None when the régie has no client number (numcli) or no service is enabled or chosen: its
    invoices are then not offered for online payment.
    """
    regie = commune.config.regie(regie_code)
    if regie is None or not regie.client_number:
        return None
    available = providers(commune)
    if regie.payment_provider:
        return available.get(regie.payment_provider)
    if len(available) == 1:
        return next(iter(available.values()))
    return None


def check_providers(commune: CommuneContext) -> list[str]:
    """Configuration problems only known once plugins run: a régie with a client number and
    several services to choose from, or naming a plugin that offers no payment service."""
    problems = []
    available = providers(commune)
    for regie in commune.config.regies:
        if not regie.client_number or not available:
            continue
        key = f"communes[{commune.slug}].regies[{regie.code}].payment_provider"
        if regie.payment_provider and regie.payment_provider not in available:
            problems.append(f"{key}: {regie.payment_provider!r} offers no payment service")
        elif not regie.payment_provider and len(available) > 1:
            names = ", ".join(sorted(available))
            problems.append(f"{key}: several payment plugins are enabled ({names}): choose one")
    return problems


def url_origin(url: str) -> str:
    """`scheme://host[:port]` of a service's page: what a provider lists in `form_origins`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
