"""The invoice import's value parsing, without a database."""

from __future__ import annotations

import datetime as dt
import json
import re

import jinja2
import pytest

from core.demo_pdfs import simple_pdf
from core.invoices.importer import (
    COLUMNS,
    ImportLineError,
    ImportReport,
    header_key,
    money_fr,
    parse_amount,
    parse_date,
    parse_invoices_csv,
    safe_number,
)
from core.invoices.modes import PAYMENT_MODES, parse_payment_mode, payment_mode_label
from core.mail.bulk import EmailTemplate
from core.mail.render import render_email
from core.web.formatting import money


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        ("243,11", 24311),
        ("243.11", 24311),
        ("1 234,56", 123456),
        ("1\u00a0234,56", 123456),
        ("1\u202f234,56 €", 123456),
        ("1.234,56", 123456),
        ("1,234.56", 123456),
        ("12", 1200),
        ("12,5", 1250),
        ("0,50", 50),
        (",50", 50),
        ("-0,00", 0),
        ("243,110", 24311),
    ],
)
def test_amounts_become_integer_cents(raw: str, cents: int) -> None:
    assert parse_amount(raw) == (cents, "")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("-12,00", "negative_amount"),
        ("12,345", "too_many_decimals"),
        ("1,234", "too_many_decimals"),
        ("douze", "bad_amount"),
        ("12,00,00", "bad_amount"),
        ("1e3", "bad_amount"),
        ("NaN", "bad_amount"),
        ("1 000 000 000,00", "amount_too_large"),
    ],
)
def test_bad_amounts_are_named(raw: str, problem: str) -> None:
    assert parse_amount(raw) == (None, problem)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("15/01/2026", dt.date(2026, 1, 15)),
        ("5/1/2026", dt.date(2026, 1, 5)),
        ("2026-01-15", dt.date(2026, 1, 15)),
        ("29/02/2028", dt.date(2028, 2, 29)),
        ("29/02/2026", None),
        ("31/04/2026", None),
        ("15/13/2026", None),
        ("15-01-2026", None),
        ("15/01/26", None),
        ("01/01/1850", None),
        ("hier", None),
    ],
)
def test_dates(raw: str, expected: dt.date | None) -> None:
    assert parse_date(raw) == expected


def test_payment_modes_have_codes_and_french_labels() -> None:
    assert parse_payment_mode("Chèque") == "cheque"
    assert parse_payment_mode("ESPECES") == "especes"
    assert parse_payment_mode("Prélèvement automatique") == "prelevement"
    assert parse_payment_mode("en_ligne") == "en_ligne"
    assert parse_payment_mode("CB") == "carte"
    assert parse_payment_mode("bitcoin") is None
    assert payment_mode_label("cheque") == "Chèque" and payment_mode_label("") == ""
    for code in PAYMENT_MODES:
        assert parse_payment_mode(code) == code
        assert payment_mode_label(code)


def test_headers_are_folded() -> None:
    assert header_key(" Numéro facture ") == "numero_facture"
    assert header_key("Date d'échéance") == "date_echeance"
    assert header_key("Mode de règlement") == "mode_reglement"
    assert header_key("E-mail") == "emails"
    assert {header_key(c.name) for c in COLUMNS} == {c.name for c in COLUMNS}


def test_safe_numbers_are_file_names_that_never_clash() -> None:
    assert safe_number("CANT-2026-0901") == "CANT-2026-0901"
    slashed, underscored = safe_number("2026/004"), safe_number("2026_004")
    assert slashed != underscored and slashed.startswith("2026_004-")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", safe_number("../../etc/passwd"))
    assert not safe_number("..").startswith(".")


def test_money_fr_is_the_portal_money_format() -> None:
    for cents in [*range(0, 2000, 7), 24311, 123456, 99_999_999_999, 100_000_000]:
        assert money_fr(cents) == money(cents), cents


def test_email_template_renders_like_render_email() -> None:
    env = jinja2.Environment(
        loader=jinja2.DictLoader(
            {
                "mail/a.txt": "{% block subject %} Sujet\n {{ x }} {% endblock %}"
                "{% block body %}\nCorps {{ x }}\n{% endblock %}",
                "mail/b.txt": "{% block subject %}S{% endblock %}{% block body %}B{% endblock %}",
                "mail/b.html": "<p>{{ x }}</p>",
            }
        ),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    for name in ("a", "b"):
        assert EmailTemplate(env, name).render(x=1) == render_email(env, name, x=1)


def test_the_first_error_lines_of_a_file() -> None:
    header = ";".join(c.name for c in COLUMNS)
    line = "B-1;Famille;a@example.org;CANT;F-1;;;05/02/2026;;10,00;;à régler;;;;;"
    parsed = parse_invoices_csv(f"{header}\n\n{line}\n{line}\n", {"CANT": 1})
    assert [(e.line, e.column) for e in parsed.errors] == [(4, "numero_facture")]
    assert parsed.errors[0].message == "Ce numéro de facture figure déjà ligne 3 du fichier."


def test_quoted_fields_may_span_lines_and_keep_line_numbers() -> None:
    header = ";".join(c.name for c in COLUMNS)
    good = 'B-1;Famille;;CANT;F-1;;"Objet sur\ndeux lignes";05/02/2026;;10,00;;à régler;;;;;'
    bad = "B-1;Famille;;CANT;F-2;;;05/02/2026;;-1;;à régler;;;;;"
    parsed = parse_invoices_csv(f"{header}\n{good}\n{bad}\n", {"CANT": 1})
    assert [(e.line, e.column) for e in parsed.errors] == [(4, "montant")]
    assert parsed.lines[0].object == "Objet sur\ndeux lignes"


def test_a_trailing_separator_is_accepted() -> None:
    header = ";".join(c.name for c in COLUMNS)
    line = "B-1;Famille;;CANT;F-1;;;05/02/2026;;10,00;;à régler;;;;;;"
    parsed = parse_invoices_csv(f"{header}\n{line}\n", {"CANT": 1})
    assert parsed.errors == [] and len(parsed.lines) == 1


def test_a_report_is_json_serialisable_through_as_dict() -> None:
    header = ";".join(c.name for c in COLUMNS)
    line = "B-1;Famille;;CANT;F-1;;;05/02/2026;;-1;;à régler;;;;;"
    parsed = parse_invoices_csv(f"{header}\n{line}\n", {"CANT": 1})
    report = ImportReport(
        lines=3,
        created=1,
        updated=2,
        payers_created=1,
        errors=parsed.errors,
        warnings=[ImportLineError(2, "numero_facture", "Le fichier « F-1.pdf » …")],
        dry_run=True,
        timings={"parse": 0.1},
    )
    assert json.loads(json.dumps(report.as_dict())) == {
        "ok": False,
        "dry_run": True,
        "lines": 3,
        "created": 1,
        "updated": 2,
        "unchanged": 0,
        "payers_created": 1,
        "pdfs_attached": 0,
        "alerts_queued": 0,
        "errors": [
            {
                "line": 2,
                "column": "montant",
                "message": "Le montant ne peut pas être négatif (-1).",
            }
        ],
        "warnings": [
            {"line": 2, "column": "numero_facture", "message": "Le fichier « F-1.pdf » …"}
        ],
    }
    assert ImportReport().as_dict()["ok"] is True


def test_simple_pdf_is_well_formed() -> None:
    pdf = simple_pdf(["Facture n° F-1 (essai)", "Montant : 12,50 €"])
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    start = int(re.search(rb"startxref\n(\d+)", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[start : start + 4] == b"xref"
    for number, offset in enumerate(re.findall(rb"(\d{10}) 00000 n ", pdf), start=1):
        assert pdf[int(offset) :].startswith(b"%d 0 obj" % number)
    assert b"\\(essai\\)" in pdf and b"12,50 \x80" in pdf  # escaped, WinAnsi euro sign
