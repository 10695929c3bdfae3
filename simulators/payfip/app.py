"""The simulator's web application: SOAP endpoint, payment pages, control endpoints.

URLs mirror the real service (`/tpa/services/securite`, `/tpa/paiementws.web`,
`/tpa/paiement.web`), so a client only changes its base URL. The control endpoints under
`/_simulateur` exist only here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import jinja2
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from simulators.payfip.service import handle_soap
from simulators.payfip.soap import CONTENT_TYPE
from simulators.payfip.state import Operation, SimulatorState
from simulators.payfip.validation import check_tipi

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

SOAP_PATH = "/tpa/services/securite"
PAYMENT_PATH = "/tpa/paiementws.web"
TIPI_PATH = "/tpa/paiement.web"
CONTROL_PATH = "/_simulateur"

ACCEPTED_CARD = "4242424242424242"
"""Test card the page accepts (result P)."""
REFUSED_CARD = "4000000000000002"
"""Test card the page refuses (result R)."""

TIPI_FIELDS = ("numcli", "exer", "refdet", "objet", "montant", "mel", "urlcl", "saisie")


def create_simulator_app(state: SimulatorState | None = None) -> Litestar:
    """Build the simulator around `state` (a fresh one if None), kept on `app.state.simulator`."""
    state = state if state is not None else SimulatorState()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["euros"] = format_euros
    env.filters["card"] = format_card
    return Litestar(
        route_handlers=[
            soap_endpoint,
            show_payment_page,
            pay_by_card,
            pay_by_debit,
            cancel_payment,
            show_tipi_page,
            pay_tipi_by_card,
            cancel_tipi_payment,
            show_control_page,
            get_behaviour,
            set_behaviour,
            purge,
            reset,
            list_operations,
            set_operation_result,
            list_notifications,
        ],
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(env)),
        state={"simulator": state},  # type: ignore[arg-type]
        on_shutdown=[state.cancel_pending],
        openapi_config=None,
        # Embedded in the portal's tests and demo: leave the host's logging set-up alone.
        logging_config=None,
    )


# ---- helpers ---------------------------------------------------------------------------


def format_euros(cents: str | int) -> str:
    """`24311` → `243,11 €`, as the real page shows amounts."""
    euros, rest = divmod(int(cents), 100)
    return f"{euros:,}".replace(",", " ") + f",{rest:02d} €"


def format_card(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def _state(request: Request[Any, Any, Any]) -> SimulatorState:
    state: SimulatorState = request.app.state["simulator"]
    return state


def with_query(url: str, params: dict[str, str]) -> str:
    """Append `params` to a URL that may already carry a query string."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def _message(kind: str, status_code: int, operation: Operation | None = None) -> Template:
    return Template(
        "message.html",
        context={"kind": kind, "operation": operation},
        status_code=status_code,
    )


def _post_form(action: str, fields: dict[str, str], operation: Operation) -> Template:
    """The page that sends the browser back with a POST, as the real TIPI does."""
    return Template(
        "retour.html",
        context={"action": action, "fields": fields, "operation": operation},
        status_code=200,
    )


def _payment_page(
    operation: Operation,
    *,
    error: str | None = None,
    card_number: str = "",
    status_code: int = 200,
) -> Template:
    base = PAYMENT_PATH if operation.kind == "payfip" else TIPI_PATH
    return Template(
        "paiement.html",
        context={
            "operation": operation,
            "test_mode": operation.saisie == "T",
            "id_field": "idop" if operation.kind == "payfip" else "session",
            "card_action": f"{base}/carte",
            "debit_action": f"{base}/prelevement" if operation.kind == "payfip" else None,
            "cancel_action": f"{base}/annulation",
            "error": error,
            "card_number": card_number,
            "accepted_card": ACCEPTED_CARD,
            "refused_card": REFUSED_CARD,
        },
        status_code=status_code,
    )


def _payable(state: SimulatorState, idop: str) -> Operation | Template:
    """The PayFiP operation a page may pay, or the page explaining why it may not."""
    operation = state.operations.get(idop)
    if operation is None:
        return _message("inconnue", 404)
    if operation.finished:
        return _message("terminee", 409, operation)
    if state.is_expired(operation):
        return _message("expiree", 410, operation)
    return operation


def _tipi_payable(state: SimulatorState, session: str) -> Operation | Template:
    operation = state.tipi_operations.get(session)
    if operation is None:
        return _message("inconnue", 404)
    if operation.finished:
        return _message("terminee", 409, operation)
    return operation


def _card_result(number: str) -> tuple[str | None, str | None]:
    """(result code, error key) for the card number typed on the page."""
    digits = re.sub(r"[\s-]", "", number)
    if not digits:
        return None, "carte_absente"
    if digits == ACCEPTED_CARD:
        return "P", None
    if digits == REFUSED_CARD:
        return "R", None
    return None, "carte_inconnue"


async def _finish_payfip(state: SimulatorState, operation: Operation, code: str) -> Response[Any]:
    """Record the result, notify urlnotif, then send the browser back to urlredirect."""
    await state.complete(operation.idop, code)
    if state.return_method == "POST":
        return _post_form(operation.urlredirect, {"idop": operation.idop}, operation)
    return Redirect(with_query(operation.urlredirect, {"idop": operation.idop}), status_code=303)


def _finish_tipi(state: SimulatorState, operation: Operation, code: str) -> Response[Any]:
    state.set_result(operation.idop, code)
    fields = operation.tipi_return_fields()
    if state.tipi_return_method == "GET":
        return Redirect(with_query(operation.urlcl, fields), status_code=303)
    return _post_form(operation.urlcl, fields, operation)


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items()}


# ---- SOAP web service --------------------------------------------------------------------


@post(SOAP_PATH, status_code=200)
async def soap_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
    """creerPaiementSecurise, recupererDetailPaiementSecurise, recupererDetailClient."""
    status_code, envelope = handle_soap(_state(request), await request.body())
    return Response(envelope, status_code=status_code, media_type=CONTENT_TYPE)


# ---- PayFiP payment page -------------------------------------------------------------------


@get(PAYMENT_PATH)
async def show_payment_page(request: Request[Any, Any, Any]) -> Response[Any]:
    state = _state(request)
    found = _payable(state, request.query_params.get("idop", ""))
    if isinstance(found, Template):
        return found
    found.page_seen = True
    return _payment_page(found)


@post(f"{PAYMENT_PATH}/carte", status_code=200)
async def pay_by_card(request: Request[Any, Any, Any]) -> Response[Any]:
    state = _state(request)
    form = await _form(request)
    found = _payable(state, form.get("idop", ""))
    if isinstance(found, Template):
        return found
    code, error = _card_result(form.get("numero_carte", ""))
    if code is None:
        return _payment_page(
            found, error=error, card_number=form.get("numero_carte", ""), status_code=400
        )
    return await _finish_payfip(state, found, code)


@post(f"{PAYMENT_PATH}/prelevement", status_code=200)
async def pay_by_debit(request: Request[Any, Any, Any]) -> Response[Any]:
    state = _state(request)
    form = await _form(request)
    found = _payable(state, form.get("idop", ""))
    if isinstance(found, Template):
        return found
    decision = form.get("decision", "")
    if decision not in ("accepte", "refuse"):
        raise ClientException(detail="decision must be 'accepte' or 'refuse'")
    return await _finish_payfip(state, found, "V" if decision == "accepte" else "Z")


@post(f"{PAYMENT_PATH}/annulation", status_code=200)
async def cancel_payment(request: Request[Any, Any, Any]) -> Response[Any]:
    state = _state(request)
    found = _payable(state, (await _form(request)).get("idop", ""))
    if isinstance(found, Template):
        return found
    return await _finish_payfip(state, found, "A")


# ---- TIPI legacy page -------------------------------------------------------------------


@get(TIPI_PATH)
async def show_tipi_page(request: Request[Any, Any, Any]) -> Response[Any]:
    state = _state(request)
    params = {name: request.query_params.get(name, "") for name in TIPI_FIELDS}
    problems = check_tipi(params, known_numcli=state.known_numcli, max_amount=state.max_amount)
    if problems:
        return Template(
            "tipi_erreur.html", context={"problems": problems, "params": params}, status_code=400
        )
    return _payment_page(state.create_tipi_operation(params))


@post(f"{TIPI_PATH}/carte", status_code=200)
async def pay_tipi_by_card(request: Request[Any, Any, Any]) -> Response[Any]:
    state = _state(request)
    form = await _form(request)
    found = _tipi_payable(state, form.get("session", ""))
    if isinstance(found, Template):
        return found
    code, error = _card_result(form.get("numero_carte", ""))
    if code is None:
        return _payment_page(
            found, error=error, card_number=form.get("numero_carte", ""), status_code=400
        )
    return _finish_tipi(state, found, code)


@post(f"{TIPI_PATH}/annulation", status_code=200)
async def cancel_tipi_payment(request: Request[Any, Any, Any]) -> Response[Any]:
    state = _state(request)
    found = _tipi_payable(state, (await _form(request)).get("session", ""))
    if isinstance(found, Template):
        return found
    return _finish_tipi(state, found, "A")


# ---- control endpoints --------------------------------------------------------------------


def _is_form(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


@get(CONTROL_PATH)
async def show_control_page(request: Request[Any, Any, Any]) -> Template:
    state = _state(request)
    return Template(
        "tableau.html",
        context={
            "payfip_operations": list(state.operations.values()),
            "tipi_operations": list(state.tipi_operations.values()),
            "state": state,
            "knobs": state.knobs(),
        },
    )


@get(f"{CONTROL_PATH}/comportement")
async def get_behaviour(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return _state(request).knobs()


@post(f"{CONTROL_PATH}/comportement", status_code=200)
async def set_behaviour(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Set knobs from a JSON object; unknown names or bad values change nothing (400)."""
    state = _state(request)
    try:
        data = await request.json()
    except Exception as exc:
        raise ClientException(detail="expected a JSON object") from exc
    if not isinstance(data, dict):
        raise ClientException(detail="expected a JSON object")
    try:
        state.configure(**data)
    except ValueError as exc:
        raise ClientException(detail=str(exc)) from exc
    return state.knobs()


@post(f"{CONTROL_PATH}/purge", status_code=200)
async def purge(request: Request[Any, Any, Any]) -> Response[Any]:
    """Forget every operation (their idops now answer P1), like the nightly job."""
    count = _state(request).purge()
    if _is_form(request):
        return Redirect(CONTROL_PATH, status_code=303)
    return Response({"purged": count})


@post(f"{CONTROL_PATH}/reinitialisation", status_code=200)
async def reset(request: Request[Any, Any, Any]) -> Response[Any]:
    """Forget everything and restore the default knobs (between end-to-end tests)."""
    state = _state(request)
    state.reset()
    if _is_form(request):
        return Redirect(CONTROL_PATH, status_code=303)
    return Response(state.knobs())


@get(f"{CONTROL_PATH}/operations")
async def list_operations(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    state = _state(request)
    operations = [*state.operations.values(), *state.tipi_operations.values()]
    return [
        {**op.to_json(), "notifications": len(state.notifications_for(op.idop))}
        for op in operations
    ]


@post(f"{CONTROL_PATH}/operations/{{idop:str}}/resultat", status_code=200)
async def set_operation_result(request: Request[Any, Any, Any], idop: str) -> dict[str, Any]:
    """Settle an operation without the page: {"resultrans": "P", "notifier": true}."""
    state = _state(request)
    data = await request.json()
    if not isinstance(data, dict) or not isinstance(data.get("resultrans"), str):
        raise ClientException(detail='expected {"resultrans": "P", "notifier": true}')
    try:
        if data.get("notifier", True):
            operation = await state.complete(idop, data["resultrans"])
        else:
            operation = state.set_result(idop, data["resultrans"])
    except KeyError as exc:
        raise NotFoundException(detail=f"unknown idop {idop}") from exc
    except ValueError as exc:
        raise ClientException(detail=str(exc)) from exc
    return operation.to_json()


@get(f"{CONTROL_PATH}/notifications")
async def list_notifications(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    return [record.to_json() for record in _state(request).notification_log]
