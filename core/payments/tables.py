"""Online payment attempts: one row per try, and the invoices it pays. Money is integer cents."""

from piccolo.columns import (
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from core.accounts.tables import Account
from core.communes.tables import Commune, Regie
from core.invoices.tables import Invoice

# Attempt states. CREATED and PENDING are open (a result may still come); the others are final,
# except that the re-check keeps asking about a late PENDING attempt (see services).
CREATED = "created"  # stored, the service not asked yet
PENDING = "pending"  # the parent was sent to the service; its result is not known
# The service said "abandoned" (A) a few minutes ago: PayFiP may still complete the operation, so
# the attempt stays open (its invoices held, re-checked) until `settlement.ABANDON_GRACE` is over.
ABANDONING = "abandoning"
PAID = "paid"  # the service confirmed the payment; invoices settled
REFUSED = "refused"  # card or direct debit refused
ABANDONED = "abandoned"  # the parent cancelled
EXPIRED = "expired"  # the service forgot the operation (P1) or it never started
FAILED = "failed"  # the service refused to create it (bad e-mail, unavailable...)
DECLARED = "declared"  # unsigned "paid" return (TIPI): recorded, to be confirmed by an import
REVIEW = "review"  # something does not match: an agent must look (invoices untouched)

OPEN_STATES = (CREATED, PENDING, ABANDONING)
# The service's result codes (resultrans) of a payment, or refusal, by direct debit; the others
# are by card.
DIRECT_DEBIT_RESULTS = frozenset({"V", "Z"})
STATES = (CREATED, PENDING, ABANDONING, PAID, REFUSED, ABANDONED, EXPIRED, FAILED, DECLARED, REVIEW)


class PaymentAttempt(Table, tablename="payment_attempt"):
    id: Serial  # added by Piccolo; declared for the type checker
    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    account = ForeignKey(Account, on_delete=OnDelete.set_null, null=True)
    regie = ForeignKey(Regie, on_delete=OnDelete.restrict, null=False)
    provider = Varchar(length=32, help_text="Plugin name of the payment service: payfip...")
    refdet = Varchar(length=30, unique=True, help_text="Our reference for this try, sent as refdet")
    provider_reference = Varchar(
        length=64, null=True, default=None, unique=True, help_text="The service's id (idop)"
    )
    numcli = Varchar(length=6)
    saisie = Varchar(length=1, default="")
    exer = Varchar(length=4)
    amount_cents = BigInt()
    email = Varchar(length=254, help_text="Where the receipt goes (mel)")
    objet = Varchar(length=100, default="")
    state = Varchar(length=16, default=CREATED)
    result_code = Varchar(length=40, default="", help_text="resultrans, or a fault code")
    authorisation_number = Varchar(length=64, default="")
    paid_at = Timestamptz(null=True, default=None, help_text="The service's transaction time")
    created_at = Timestamptz()
    updated_at = Timestamptz()
    checks = Integer(default=0, help_text="How many times the service was asked for the result")
    last_checked_at = Timestamptz(null=True, default=None)
    next_check_at = Timestamptz(null=True, default=None)
    detail = Text(default="", help_text="The service's last answer, as JSON (audit log)")
    note = Text(default="", help_text="Why the attempt failed or needs review")


class PaymentAttemptInvoice(Table, tablename="payment_attempt_invoice"):
    """An invoice paid by an attempt, with the amount asked for it."""

    id: Serial  # added by Piccolo; declared for the type checker

    attempt = ForeignKey(PaymentAttempt, on_delete=OnDelete.cascade, null=False)
    invoice = ForeignKey(Invoice, on_delete=OnDelete.cascade, null=False)
    amount_cents = BigInt()
    settled = Boolean(default=False, help_text="True once this payment settled the invoice")
