"""The small rules of online payment that need no database: references, selections, result
checks, and how each provider reads what comes back."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from core.hookspecs import PaymentOutcome
from core.payments.attempts import new_refdet
from core.payments.basket import parse_invoice_ids
from core.payments.settlement import mismatches
from core.web.formatting import TIMEZONE
from plugins.payfip.provider import idop_from
from plugins.tipi_legacy.provider import outcome_from, transaction_time

ATTEMPT = {
    "numcli": "004200",
    "refdet": "20261125ABCDEFGHJKLM",
    "amount_cents": 24311,
    "saisie": "W",
}


def test_each_refdet_is_new_and_fits_the_services_format() -> None:
    moment = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)  # already 1 January in Paris
    refdets = {new_refdet(moment) for _ in range(1000)}
    assert len(refdets) == 1000
    for refdet in refdets:
        assert re.fullmatch(r"[A-Za-z0-9]{6,30}", refdet)
        assert refdet.startswith("20270101")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["3", "1", "3"], [3, 1]),
        (["1,2", " 4 "], [1, 2, 4]),
        (["", "x", "-1", "1.5", "99999999999"], []),
    ],
)
def test_invoice_ids_are_read_leniently(values: list[str], expected: list[int]) -> None:
    assert parse_invoice_ids(values) == expected


def matching(**changes: object) -> PaymentOutcome:
    fields = {"numcli": "004200", "refdet": ATTEMPT["refdet"], "amount_cents": 24311, "saisie": "W"}
    return PaymentOutcome(result="paid", verified=True, **{**fields, **changes})  # type: ignore[arg-type]


def test_a_result_must_match_the_attempt_exactly() -> None:
    assert mismatches(ATTEMPT, matching()) == []
    assert [p.split()[0] for p in mismatches(ATTEMPT, matching(numcli="004201"))] == ["numcli"]
    assert [p.split()[0] for p in mismatches(ATTEMPT, matching(amount_cents=24310))] == ["montant"]
    assert [p.split()[0] for p in mismatches(ATTEMPT, matching(amount_cents=None))] == ["montant"]
    assert [p.split()[0] for p in mismatches(ATTEMPT, matching(saisie="T"))] == ["saisie"]
    assert [p.split()[0] for p in mismatches(ATTEMPT, matching(refdet="OTHER1"))] == ["refdet"]


def test_the_notification_idop_is_read_whatever_its_case() -> None:
    assert idop_from([("idop", "abc")]) == "abc"
    assert idop_from([("idOp", " abc ")]) == "abc"
    assert idop_from([("IDOP", "abc")]) == "abc"
    assert idop_from([("other", "abc")]) == ""
    assert idop_from([("idop", "x" * 65)]) == ""  # no idop this portal created is that long


def test_a_tipi_return_is_read_but_never_verified() -> None:
    fields = {
        "numcli": "099999",
        "refdet": "XXXXXXXXXX0001",
        "montant": "10522",
        "saisie": "T",
        "resultrans": "P",
        "numauto": "00000001",
        "dattrans": "04052021",
        "heurtrans": "1325",
    }
    outcome = outcome_from(fields)
    assert (outcome.result, outcome.verified, outcome.amount_cents) == ("paid", False, 10522)
    assert outcome.transaction_at == dt.datetime(2021, 5, 4, 13, 25, tzinfo=TIMEZONE)
    assert outcome_from({**fields, "resultrans": "Z"}).result == "refused"
    assert outcome_from({**fields, "resultrans": "A"}).result == "abandoned"
    assert outcome_from({**fields, "resultrans": "?"}).result == "unknown"
    assert outcome_from({**fields, "montant": "105,22"}).amount_cents is None
    assert transaction_time("31022021", "1200") is None
    assert transaction_time("", "") is None
