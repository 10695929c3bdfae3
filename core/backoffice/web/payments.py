"""Paiements: the commune's online payment attempts, one in detail, asking the service again,
the decision on an attempt in review, and the exports of what was settled online."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Stream, Template

from core.backoffice import exports
from core.backoffice.payments import (
    PaymentFilters,
    ReviewRefused,
    decide,
    list_payments,
    parse_filters,
    payment_detail,
    recheck,
)
from core.backoffice.roles import can
from core.backoffice.sessions import SignedInAgent
from core.backoffice.web.access import BackofficeController, permission
from core.backoffice.web.pages import backoffice_page
from core.communes.context import CommuneContext
from core.i18n import t
from core.mail.mailer import Mailer
from core.payments.providers import providers
from core.payments.tables import STATES
from core.settings import Settings
from core.web.dependencies import client_address
from core.web.forms import Problems, form_fields

LIST_TEMPLATE = "backoffice/payments.html"
DETAIL_TEMPLATE = "backoffice/payment_detail.html"
FILTER_NAMES = ("du", "au", "regie", "etat", "service", "min", "max")
MAX_ID = 2**31 - 1


def _filters(
    request: Request, commune: CommuneContext
) -> tuple[PaymentFilters, dict[str, list[str]], dict[str, str]]:
    """The criteria in the URL, their errors, and the values as typed (to show them again)."""
    values = {name: request.query_params.get(name, "")[:40] for name in FILTER_NAMES}
    filters, errors = parse_filters(
        values,
        [regie.code for regie in commune.config.regies],
        sorted(providers(commune)),
    )
    return filters, errors, values


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


class PaymentsController(BackofficeController):
    path = "/{slug:str}/gestion/paiements"

    @get("/", name="backoffice_payments", opt=permission("payments.read"))
    async def list_page(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent
    ) -> Template:
        filters, errors, values = _filters(request, commune)
        listing = await list_payments(commune.id, filters, _page_number(request))
        query = urlencode({name: value for name, value in values.items() if value})
        return backoffice_page(
            request,
            commune,
            agent,
            LIST_TEMPLATE,
            status_code=422 if errors else 200,
            listing=listing,
            errors=errors,
            values=values,
            query=query,
            regies=commune.config.regies,
            states=STATES,
            provider_labels={
                name: provider.label for name, provider in sorted(providers(commune).items())
            },
            may_export=can(agent.agent, "payments.export"),
        )

    @get("/export.csv", name="backoffice_payments_csv", opt=permission("payments.export"))
    async def export_csv(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
    ) -> Response[Any]:
        period = await _export_period(request, commune, agent, settings, "csv")
        if period is None:
            return _back_to_list(request, commune)
        from_day, to_day = period
        return Stream(
            exports.csv_chunks(commune.id, from_day, to_day),
            media_type="text/csv; charset=utf-8",
            headers=_attachment(exports.file_name(commune.slug, from_day, to_day, "csv")),
        )

    @get("/export.xlsx", name="backoffice_payments_xlsx", opt=permission("payments.export"))
    async def export_xlsx(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        settings: Settings,
    ) -> Response[Any]:
        period = await _export_period(request, commune, agent, settings, "xlsx")
        if period is None:
            return _back_to_list(request, commune)
        from_day, to_day = period
        path = await exports.xlsx_file(commune.id, from_day, to_day)
        return Stream(
            exports.file_chunks(path),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers=_attachment(exports.file_name(commune.slug, from_day, to_day, "xlsx")),
        )

    @get("/{attempt_id:int}", name="backoffice_payment", opt=permission("payments.read"))
    async def detail_page(
        self, request: Request, commune: CommuneContext, agent: SignedInAgent, attempt_id: int
    ) -> Template:
        return await _detail(request, commune, agent, attempt_id)

    @post("/{attempt_id:int}/reverifier", opt=permission("payments.review"))
    async def recheck(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        mailer: Mailer,
        settings: Settings,
        attempt_id: int,
    ) -> Response[Any]:
        _existing_id(attempt_id)
        try:
            key = await recheck(
                commune, attempt_id, agent.agent, mailer, client_address(request, settings)
            )
        except LookupError as exc:
            raise NotFoundException() from exc
        return Redirect(path=_detail_url(commune, attempt_id, key), status_code=303)

    @post("/{attempt_id:int}/decision", opt=permission("payments.review"))
    async def decision(
        self,
        request: Request,
        commune: CommuneContext,
        agent: SignedInAgent,
        mailer: Mailer,
        settings: Settings,
        attempt_id: int,
    ) -> Response[Any]:
        _existing_id(attempt_id)
        form = await form_fields(request)
        try:
            key = await decide(
                commune,
                attempt_id,
                form.get("decision", ""),
                form.get("commentaire", ""),
                agent.agent,
                mailer,
                client_address(request, settings),
            )
        except LookupError as exc:
            raise NotFoundException() from exc
        except Problems as problems:
            return await _detail(
                request, commune, agent, attempt_id, errors=problems.errors, values=form
            )
        except ReviewRefused as refused:
            message = t(f"backoffice.payments.review.{refused.key}")
            return await _detail(
                request, commune, agent, attempt_id, errors={"form": [message]}, values=form
            )
        return Redirect(path=_detail_url(commune, attempt_id, key), status_code=303)


def _existing_id(attempt_id: int) -> None:
    if not 0 < attempt_id <= MAX_ID:
        raise NotFoundException()


def _detail_url(commune: CommuneContext, attempt_id: int, info: str) -> str:
    return commune.url(f"gestion/paiements/{attempt_id}?info={info}")


async def _detail(
    request: Request,
    commune: CommuneContext,
    agent: SignedInAgent,
    attempt_id: int,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    _existing_id(attempt_id)
    detail = await payment_detail(commune.id, attempt_id)
    if detail is None:
        raise NotFoundException()
    return backoffice_page(
        request,
        commune,
        agent,
        DETAIL_TEMPLATE,
        status_code=422 if errors else 200,
        detail=detail,
        attempt=detail.attempt,
        errors=errors or {},
        values=values or {},
        may_review=can(agent.agent, "payments.review"),
        provider_label=getattr(providers(commune).get(detail.attempt["provider"]), "label", ""),
    )


async def _export_period(
    request: Request,
    commune: CommuneContext,
    agent: SignedInAgent,
    settings: Settings,
    kind: str,
) -> tuple[dt.date | None, dt.date | None] | None:
    """The list's dates, journalled with the export; None when a criterion is wrong (nothing
    is exported then: a typo must not export every payment)."""
    filters, errors, _values = _filters(request, commune)
    if errors:
        return None
    await exports.record_export(
        agent.agent,
        client_address(request, settings),
        commune.id,
        kind,
        filters.from_day,
        filters.to_day,
    )
    return filters.from_day, filters.to_day


def _back_to_list(request: Request, commune: CommuneContext) -> Response[Any]:
    """The list with the same criteria, which says what is wrong."""
    query = urlencode({name: request.query_params.get(name, "")[:40] for name in FILTER_NAMES})
    return Redirect(path=commune.url(f"gestion/paiements/?{query}"), status_code=303)


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
