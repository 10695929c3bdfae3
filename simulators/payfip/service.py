"""The three web-service operations, answered from the simulator's state."""

from __future__ import annotations

import logging
from collections.abc import Callable

from simulators.payfip.soap import (
    SoapFault,
    parse_request,
    render_fault,
    render_response,
)
from simulators.payfip.state import SimulatorState
from simulators.payfip.validation import NUMCLI_RE, check_creation

logger = logging.getLogger(__name__)


def creer_paiement_securise(state: SimulatorState, fields: dict[str, str]) -> dict[str, str]:
    code = check_creation(fields, known_numcli=state.known_numcli, max_amount=state.max_amount)
    if code:
        raise SoapFault(code)
    return {"idOp": state.create_operation(fields).idop}


def recuperer_detail_paiement_securise(
    state: SimulatorState, fields: dict[str, str]
) -> dict[str, str]:
    """P1 for an idop never issued or purged, P5 while no result is known."""
    operation = state.operations.get(fields.get("idOp", ""))
    if operation is None:
        raise SoapFault("P1")
    if not operation.finished:
        raise SoapFault("P5")
    return operation.detail()


def recuperer_detail_client(state: SimulatorState, fields: dict[str, str]) -> dict[str, str]:
    numcli = fields.get("numCli", "")
    if not NUMCLI_RE.fullmatch(numcli):
        raise SoapFault("T1")
    if state.known_numcli is not None and numcli not in state.known_numcli:
        raise SoapFault("T2")
    n1, n2, n3 = state.client_labels
    return {"libelleN1": n1, "libelleN2": n2, "libelleN3": n3, "numcli": numcli}


OPERATIONS: dict[str, Callable[[SimulatorState, dict[str, str]], dict[str, str]]] = {
    "creerPaiementSecurise": creer_paiement_securise,
    "recupererDetailPaiementSecurise": recuperer_detail_paiement_securise,
    "recupererDetailClient": recuperer_detail_client,
}


def handle_soap(state: SimulatorState, body: bytes) -> tuple[int, bytes]:
    """Answer one POST to the endpoint: (HTTP status, SOAP envelope). Never raises."""
    try:
        request = parse_request(body)
        state.count_question(request.operation, request.fields.get("idOp"))
        queued = state.take_fault(request.operation, request.fields.get("idOp"))
        if queued is not None:
            raise SoapFault(queued.code, queued.libelle, kind=queued.kind)
        result = OPERATIONS[request.operation](state, request.fields)
        return 200, render_response(request.operation, result)
    except SoapFault as fault:
        return 500, render_fault(fault)
    except Exception:
        logger.exception("PayFiP simulator failed on a SOAP request")
        return 500, render_fault(SoapFault("", kind="TechDysfonctionnementErreur"))
