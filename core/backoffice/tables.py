"""The agents' back office: agents (never a parent's account), their sessions and second factor,
the append-only journal, API keys, payment suspensions and import jobs.

These tables belong to the `backoffice` Piccolo app (`core.backoffice.piccolo_app`), whose
migrations run after the core ones. Composite and partial unique keys are indexes created by
the second migration, as elsewhere (SQLite cannot `ALTER TABLE ADD CONSTRAINT`).
"""

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

from core.communes.tables import Commune, Regie
from core.contact.tables import ContactMessage
from core.payments.tables import PaymentAttempt

# Roles (see core.backoffice.roles for what each may do).
ADMINISTRATEUR = "administrateur"
GESTIONNAIRE = "gestionnaire"
LECTEUR = "lecteur"
SUPERVISEUR = "superviseur"
ROLES = (ADMINISTRATEUR, GESTIONNAIRE, LECTEUR, SUPERVISEUR)

# Import job states and sources.
IMPORT_STATES = ("planned", "publishing", "published", "failed", "discarded")
IMPORT_SOURCES = ("web", "api")


class Agent(Table, tablename="agent"):
    """A commune's agent, or a superviseur (no commune) who works in every commune."""

    id: Serial  # added by Piccolo; declared for the type checker

    commune = ForeignKey(
        Commune,
        on_delete=OnDelete.cascade,
        null=True,
        help_text="NULL for a superviseur, who sees every commune",
    )
    email = Varchar(length=254, help_text="Normalised: trimmed, lower-case; unique per commune")
    display_name = Varchar(length=200, default="", help_text="As colleagues know the agent")
    role = Varchar(length=16, help_text="administrateur, gestionnaire, lecteur or superviseur")
    password_hash = Text(null=True, default=None, help_text="Argon2id; NULL until set")
    auth_version = Integer(default=1, help_text="Bumped to end every session of the agent")
    totp_secret = Varchar(
        length=64,
        null=True,
        default=None,
        secret=True,
        help_text="Base32 TOTP secret (pending until totp_enabled); never logged",
    )
    totp_enabled = Boolean(default=False, help_text="The second factor is required at login")
    totp_last_step = BigInt(
        null=True, default=None, help_text="Last accepted TOTP time step (refuses a replay)"
    )
    disabled_at = Timestamptz(null=True, default=None, help_text="Set when access is withdrawn")
    created_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)


class AgentToken(Table, tablename="agent_token"):
    """A single-use link token (setting a password); only its SHA-256 is stored."""

    id: Serial  # added by Piccolo; declared for the type checker

    agent = ForeignKey(Agent, on_delete=OnDelete.cascade, null=False)
    purpose = Varchar(length=16, help_text="set_password")
    token_hash = Varchar(length=64, unique=True, help_text="SHA-256 of the link's secret")
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class AgentSession(Table, tablename="agent_session"):
    """A logged-in agent's browser; the cookie holds a random secret, the table its hash."""

    id: Serial  # added by Piccolo; declared for the type checker

    agent = ForeignKey(Agent, on_delete=OnDelete.cascade, null=False)
    secret_hash = Varchar(length=64, unique=True, help_text="SHA-256 of the cookie's secret")
    auth_version = Integer(help_text="The agent's auth_version when the session opened")
    created_at = Timestamptz()
    expires_at = Timestamptz(help_text="Absolute end of the session")
    last_seen_at = Timestamptz(help_text="Inactivity ends the session after a while")
    totp_verified = Boolean(
        default=False, help_text="The second factor was given (needed when TOTP is enabled)"
    )


class AgentRecoveryCode(Table, tablename="agent_recovery_code"):
    """A single-use code replacing the TOTP code once; only its SHA-256 is stored."""

    id: Serial  # added by Piccolo; declared for the type checker

    agent = ForeignKey(Agent, on_delete=OnDelete.cascade, null=False)
    code_hash = Varchar(length=64, help_text="SHA-256 of the normalised code")
    used_at = Timestamptz(null=True, default=None)


class JournalEntry(Table, tablename="journal_entry"):
    """Who did what, when (append-only: the application never updates or deletes a row)."""

    id: Serial  # added by Piccolo; declared for the type checker

    at = Timestamptz()
    commune = ForeignKey(
        Commune, on_delete=OnDelete.restrict, null=True, help_text="NULL for portal-wide acts"
    )
    agent = ForeignKey(
        Agent, on_delete=OnDelete.restrict, null=True, help_text="NULL for the API or the system"
    )
    actor_label = Varchar(length=300, help_text="Who acted, as shown: the agent, an API key...")
    action = Varchar(length=100, help_text="A stable key, e.g. payments.suspend")
    target = Text(default="", help_text="What was acted on, e.g. régie CANT")
    before = Text(null=True, default=None, help_text="JSON of the state before, if any")
    after = Text(null=True, default=None, help_text="JSON of the state after, if any")
    client_ip = Varchar(length=64, default="")


class ApiKey(Table, tablename="api_key"):
    """A key the commune's billing software uses; only its SHA-256 is stored."""

    id: Serial  # added by Piccolo; declared for the type checker

    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    label = Varchar(length=100, help_text="The administrator's name for it, e.g. Logiciel")
    key_hash = Varchar(length=64, unique=True, help_text="SHA-256 of the key")
    prefix = Varchar(length=8, help_text="The key's first characters, shown in lists")
    created_by = ForeignKey(Agent, on_delete=OnDelete.set_null, null=True)
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)


class PaymentSuspension(Table, tablename="payment_suspension"):
    """Online payment suspended for a régie, or the whole commune; deleting the row resumes."""

    id: Serial  # added by Piccolo; declared for the type checker

    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    regie = ForeignKey(
        Regie, on_delete=OnDelete.cascade, null=True, help_text="NULL: every régie of the commune"
    )
    message = Text(default="", help_text="What parents read; empty for the default text")
    suspended_by = ForeignKey(Agent, on_delete=OnDelete.set_null, null=True)
    suspended_at = Timestamptz()


class ImportJob(Table, tablename="import_job"):
    """An invoice import, from the back office or the API; its files are kept in the data
    directory (`<PORTAIL_DATA_DIR>/imports/<id>/`), not in the database."""

    id: Serial  # added by Piccolo; declared for the type checker

    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    agent = ForeignKey(Agent, on_delete=OnDelete.set_null, null=True, help_text="NULL for the API")
    file_name = Varchar(length=255, help_text="The uploaded file's name, as sent")
    source = Varchar(length=8, help_text="web or api")
    status = Varchar(
        length=16, default="planned", help_text="planned, publishing, published, failed, discarded"
    )
    counts = Text(default="{}", help_text="JSON: created, updated, refused, unchanged")
    report = Text(default="{}", help_text="JSON: the importer's report")
    progress = Integer(default=0, help_text="0 to 100")
    has_pdf_archive = Boolean(default=False, help_text="A ZIP of PDFs came with the CSV")
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    error = Text(default="")


# Decisions an agent takes on a payment in review (core.backoffice.payments).
REVIEW_CONFIRMED = "confirmed"
REVIEW_CLOSED = "closed"


class PaymentReview(Table, tablename="payment_review"):
    """An agent's decision on a payment attempt that was in review, with the mandatory comment;
    one per attempt (a decided attempt is final)."""

    id: Serial  # added by Piccolo; declared for the type checker

    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    attempt = ForeignKey(PaymentAttempt, on_delete=OnDelete.cascade, null=False, unique=True)
    agent = ForeignKey(Agent, on_delete=OnDelete.set_null, null=True)
    decision = Varchar(length=16, help_text="confirmed (invoices settled) or closed (untouched)")
    comment = Text(help_text="Why: what the agent checked with the service or the family")
    decided_at = Timestamptz()


class ContactReply(Table, tablename="contact_reply"):
    """An agent's answer to a parent's contact message, e-mailed to the parent (outbox)."""

    id: Serial  # added by Piccolo; declared for the type checker

    message = ForeignKey(ContactMessage, on_delete=OnDelete.cascade, null=False, index=True)
    agent = ForeignKey(Agent, on_delete=OnDelete.set_null, null=True)
    body = Text(help_text="Plain text, as e-mailed")
    sent_at = Timestamptz()


class Invitation(Table, tablename="invitation"):
    """An invitation e-mailed to a payer's address ("Inviter les familles"): the page does not
    invite the same address again within the commune's `invitation_delay_days`."""

    id: Serial  # added by Piccolo; declared for the type checker

    commune = ForeignKey(Commune, on_delete=OnDelete.cascade, null=False)
    email = Varchar(length=254, help_text="Normalised: trimmed, lower-case")
    sent_at = Timestamptz()
    agent = ForeignKey(Agent, on_delete=OnDelete.set_null, null=True, help_text="Who invited")
