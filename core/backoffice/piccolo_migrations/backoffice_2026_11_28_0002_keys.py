"""Back office keys and lookups, as indexes (SQLite cannot `ALTER TABLE ADD CONSTRAINT`; in a
migration of its own because a migration's raw SQL runs before its tables are created).

- an agent's address is unique in its commune, and among superviseurs (partial indexes, since
  NULL never equals NULL in a unique index);
- one payment suspension per (commune, régie), and one for a whole commune;
- the lookups: tokens and sessions by agent, the journal by commune or agent and date, API keys
  by commune, import jobs by commune.

On PostgreSQL, a trigger also refuses any UPDATE or DELETE of a journal entry: the application
never does either, and the database makes sure of it (TRUNCATE, for tests, is not a row change).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T09:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Back office keys"

STATEMENTS = [
    "CREATE UNIQUE INDEX agent_commune_email ON agent (commune, email) WHERE commune IS NOT NULL",
    "CREATE UNIQUE INDEX agent_superviseur_email ON agent (email) WHERE commune IS NULL",
    "CREATE INDEX agent_email ON agent (email)",
    "CREATE INDEX agent_token_agent ON agent_token (agent, purpose)",
    "CREATE INDEX agent_session_agent ON agent_session (agent)",
    "CREATE INDEX agent_session_expires ON agent_session (expires_at)",
    "CREATE INDEX agent_recovery_code_agent ON agent_recovery_code (agent, code_hash)",
    "CREATE INDEX journal_entry_commune_at ON journal_entry (commune, at)",
    "CREATE INDEX journal_entry_agent_at ON journal_entry (agent, at)",
    "CREATE INDEX api_key_commune ON api_key (commune)",
    "CREATE UNIQUE INDEX payment_suspension_regie ON payment_suspension (commune, regie)"
    " WHERE regie IS NOT NULL",
    "CREATE UNIQUE INDEX payment_suspension_commune ON payment_suspension (commune)"
    " WHERE regie IS NULL",
    "CREATE INDEX import_job_commune ON import_job (commune, created_at)",
]

POSTGRES_STATEMENTS = [
    "CREATE FUNCTION journal_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION 'journal_entry is append-only: % refused', TG_OP; END $$",
    "CREATE TRIGGER journal_entry_append_only BEFORE UPDATE OR DELETE ON journal_entry"
    " FOR EACH ROW EXECUTE FUNCTION journal_entry_append_only()",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="backoffice", description=DESCRIPTION)

    async def run_statements() -> None:
        engine = engine_finder()  # what Piccolo's own migration commands use too
        statements = list(STATEMENTS)
        if engine is not None and engine.engine_type == "postgres":
            statements += POSTGRES_STATEMENTS
        for statement in statements:
            await engine.run_ddl(statement)  # type: ignore[union-attr]

    manager.add_raw(run_statements)
    return manager
