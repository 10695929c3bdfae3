"""Paying online: the selection of invoices, the summary, the result page, receipts, history.

- `GET paiement/selection`: the invoices still to pay, grouped by régie (the groups with a
  ticked invoice first), with checkboxes (where the commune has `payment_basket`);
  `GET paiement/selection/resume` is the count and total of one régie's selection, refreshed
  by htmx as boxes are ticked.
- `GET paiement?facture=…`: the summary ("Informations pour le paiement"); from a régie's
  group with nothing ticked (`?regie=…` alone), the selection again with the error naming the
  régie. `POST paiement` records an attempt and sends the browser to the service, in the same
  tab.
- `GET paiement/<refdet>`: the result, which updates itself (htmx polling) until it is final;
  a paid attempt is also the receipt, with its PDF at `paiement/<refdet>/recu.pdf`.
- `GET paiements`: the account's payments.

The service's notification and the browser's return are in `service_routes`.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from core.communes.context import CommuneContext
from core.hookspecs import PaymentStartFailed
from core.i18n import t
from core.invoices import pdf
from core.invoices import services as invoices
from core.invoices.tables import TO_PAY
from core.payments import attempts, checks, receipt
from core.payments.attempts import AttemptView
from core.payments.basket import BasketError, PaymentPlan, parse_invoice_ids, plan_payment
from core.payments.providers import provider_for_regie
from core.settings import Settings
from core.web.dependencies import mailer, record_refusal
from core.web.identity import SignedIn
from core.web.pages import page
from core.web.render import is_htmx, wants_fragment
from core.web.security import CONTENT_SECURITY_POLICY

RESULT_TEMPLATE = "payments/result.html"
STATUS_BLOCK = "payment_status"


def _selected(request: Request) -> list[int]:
    return parse_invoice_ids(request.query_params.getall("facture", []))


async def _form_ids(request: Request) -> list[int]:
    form = await request.form()
    return parse_invoice_ids([str(v) for v in form.getall("facture", [])])


def _csp_allowing(origins: list[str]) -> dict[str, str]:
    """The page's CSP, letting its form lead to the payment service (a redirect after a form
    submission must be allowed by form-action)."""
    allowed = " ".join(sorted(set(origins)))
    return {
        "content-security-policy": CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action 'self' {allowed}"
        )
    }


async def _basket_groups(
    commune: CommuneContext, account: SignedIn, selected: list[int], regie: str | None = None
) -> list[dict[str, Any]]:
    """The invoices to pay, grouped by régie (only `regie`'s, if given), each with whether it
    can be selected and why not."""
    groups: dict[str, dict[str, Any]] = {}
    for invoice in await invoices.get_invoices(commune.id, account.account_id, status=TO_PAY):
        code = invoice.regie_code
        if regie is not None and code != regie:
            continue
        if code not in groups:
            safe_code = re.sub(r"[^A-Za-z0-9_-]", "-", code)
            groups[code] = {
                "code": code,
                "name": invoice.regie_name,
                "anchor": "basket-" + safe_code,
                # The id of its live summary, the same in the page and in the fragment.
                "summary_id": "basket-summary-" + safe_code,
                "online": provider_for_regie(commune, code) is not None,
                "rows": [],
            }
        payable, reasons = await invoices.payability(commune, invoice, account)
        groups[code]["rows"].append(
            {
                "invoice": invoice,
                "payable": payable,
                "reasons": reasons,
                "checked": payable and invoice.id in selected,
            }
        )
    for group in groups.values():
        chosen = [row["invoice"] for row in group["rows"] if row["checked"]]
        group["count"] = len(chosen)
        group["total_cents"] = sum(invoice.remaining_cents for invoice in chosen)
    return list(groups.values())


def _first(groups: list[dict[str, Any]], code: str | None = None) -> list[dict[str, Any]]:
    """The groups holding a ticked invoice (or régie `code`'s) first, the others after, each
    part in its usual order: on a phone, the group of the invoice the parent came to pay
    starts on the first screen, and its "Continuer" is the first one reached."""
    return sorted(groups, key=lambda group: not (group["count"] or group["code"] == code))


class PaymentController(Controller):
    path = "/{slug:str}"

    @get("/paiement/selection", name="payment_selection")
    async def selection(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Response[Any]:
        selected = _selected(request)
        if not commune.config.payment_basket:
            target = f"paiement?facture={selected[0]}" if selected else "factures"
            return Redirect(path=commune.url(target), status_code=303)
        groups = await _basket_groups(commune, account, selected)
        return _selection_page(request, commune, account, _first(groups))

    @get("/paiement/selection/resume", name="payment_selection_summary")
    async def selection_summary(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Template:
        regie = request.query_params.get("regie", "")
        groups = await _basket_groups(commune, account, _selected(request), regie)
        if not groups:
            raise NotFoundException()
        group = groups[0]
        return page(request, commune, "payments/_basket_summary.html", group=group)

    @get("/paiement", name="payment_summary")
    async def summary(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Response[Any]:
        selected = _selected(request)
        regie = request.query_params.get("regie")
        if not selected and regie and commune.config.payment_basket:
            # "Continuer" pressed in a régie's group with nothing ticked: the selection again,
            # the error naming that régie and tied to its group.
            groups = await _basket_groups(commune, account, [])
            empty = next((group for group in groups if group["code"] == regie), None)
            if empty is not None:
                return _selection_page(
                    request,
                    commune,
                    account,
                    _first(groups, regie),
                    error_group=empty,
                    error=t("payments.basket.empty_regie", regie=empty["name"]),
                    status_code=422,
                )
        return await _summary_page(request, commune, account, selected)

    @post("/paiement", name="payment_start")
    async def start(
        self, request: Request, commune: CommuneContext, account: SignedIn, settings: Settings
    ) -> Response[Any]:
        ids = await _form_ids(request)
        try:
            plan = await plan_payment(commune, account, ids)
            _refdet, url = await attempts.start_payment(commune, account, plan, settings.base_url)
        except BasketError as exc:
            return await _summary_page(request, commune, account, ids, error=str(exc))
        except PaymentStartFailed as exc:
            return await _summary_page(
                request, commune, account, ids, error=exc.message, status_code=503
            )
        # The same tab goes to the service: no pop-up, nothing to allow.
        return Redirect(path=url, status_code=303)

    @get("/paiements", name="payment_history")
    async def history(
        self, request: Request, commune: CommuneContext, account: SignedIn
    ) -> Template:
        history = await attempts.account_attempts(commune.id, account.account_id)
        return page(request, commune, "payments/history.html", account=account, attempts=history)

    @get("/paiement/{refdet:str}", name="payment_result")
    async def result(
        self, request: Request, commune: CommuneContext, account: SignedIn, refdet: str
    ) -> Response[Any]:
        attempt = await _own_attempt(request, commune, account, refdet)
        if not attempt.final:
            state = await checks.refresh(commune, attempt, mailer(request))
            if state != attempt.state:
                attempt = await _own_attempt(request, commune, account, refdet)
        # A poll whose answer has not changed swaps nothing (204): screen readers stay quiet.
        if is_htmx(request) and request.query_params.get("etat") == attempt.state:
            return Response(content=b"", status_code=204)
        return page(
            request,
            commune,
            RESULT_TEMPLATE,
            account=account,
            block=STATUS_BLOCK,
            current_path=commune.url("paiements"),
            attempt=attempt,
            # The step indicator: the service's page until its answer is known, then the result.
            payment_step=4 if attempt.final else 3,
            fragment=wants_fragment(request, STATUS_BLOCK),
            # TIPI cannot be asked: while its return has not come, say so instead of "waiting".
            verifiable=getattr(
                provider_for_regie(commune, attempt.regie_code), "verifies_results", False
            ),
        )

    @get("/paiement/{refdet:str}/recu.pdf", name="payment_receipt_pdf")
    async def receipt_pdf(
        self, request: Request, commune: CommuneContext, account: SignedIn, refdet: str
    ) -> Response[Any]:
        attempt = await _own_attempt(request, commune, account, refdet)
        if attempt.state != "paid":
            raise NotFoundException()
        content = await asyncio.to_thread(receipt.receipt_pdf, commune.config, attempt)
        return Response(
            content=content,
            media_type=pdf.MEDIA_TYPE,
            headers=pdf.download_headers(f"recu-{attempt.refdet}.pdf"),
        )


async def _own_attempt(
    request: Request, commune: CommuneContext, account: SignedIn, refdet: str
) -> AttemptView:
    attempt = await attempts.get_attempt(commune.id, refdet[:30])
    if attempt is None or attempt.account_id != account.account_id:
        if attempt is not None:  # another parent's payment
            record_refusal(request, "foreign_object", account=account.account_id)
        raise NotFoundException()
    return attempt


def _selection_page(
    request: Request,
    commune: CommuneContext,
    account: SignedIn,
    groups: list[dict[str, Any]],
    *,
    error_group: dict[str, Any] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Template:
    return page(
        request,
        commune,
        "payments/selection.html",
        account=account,
        current_path=commune.url("factures"),
        groups=groups,
        error_group=error_group,
        error=error,
        status_code=status_code,
    )


async def _summary_page(
    request: Request,
    commune: CommuneContext,
    account: SignedIn,
    ids: list[int],
    *,
    error: str = "",
    status_code: int = 200,
) -> Response[Any]:
    plan: PaymentPlan | None = None
    if not error:
        try:
            plan = await plan_payment(commune, account, ids)
        except BasketError as exc:
            error = str(exc)
    response = page(
        request,
        commune,
        "payments/summary.html",
        account=account,
        current_path=commune.url("factures"),
        plan=plan,
        error=error,
        status_code=status_code if plan else max(status_code, 409),
        selection_url=commune.url("paiement/selection?" + "&".join(f"facture={i}" for i in ids)),
    )
    if plan is not None:
        response.headers.update(_csp_allowing(list(plan.provider.form_origins)))
    return response
