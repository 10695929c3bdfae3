"""The paper preference: read it, change it and tell the billing service, in one transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.clock import now
from core.communes.context import CommuneContext
from core.db import as_aware, transaction
from core.hookspecs import ExportColumn, ExportSection
from core.i18n import t
from core.mail.mailer import Mailer
from core.parents import account_payers, lock_account
from core.web.formatting import date
from plugins.paper_optout.tables import PaperPreference


@dataclass(frozen=True)
class Preference:
    paper_optout: bool = False
    changed_at: dt.datetime | None = None


async def preference(account_id: int) -> Preference:
    row = (
        await PaperPreference.select(PaperPreference.paper_optout, PaperPreference.changed_at)
        .where(PaperPreference.account == account_id)
        .first()
    )
    if row is None:
        return Preference()
    return Preference(paper_optout=row["paper_optout"], changed_at=row["changed_at"])


async def section_context(account_id: int) -> dict[str, Any]:
    """The variables of the "Mes informations" section (hook `account_section_context`)."""
    return {"paper_optout": await preference(account_id)}


async def choose(
    commune: CommuneContext, account_id: int, paper_optout: bool, notify: str, mailer: Mailer
) -> bool:
    """Record the choice and e-mail it to `notify`; False (and no e-mail) if it was already so.

    Posting the desired state, not a toggle, makes a double submission harmless.
    """
    async with transaction():
        # Concurrent submissions for one account run one after the other.
        account_email = await lock_account(account_id)
        current = await preference(account_id)
        if current.paper_optout == paper_optout:
            return False
        moment = now()
        if current.changed_at is None:
            await PaperPreference.insert(
                PaperPreference(account=account_id, paper_optout=paper_optout, changed_at=moment)
            )
        else:
            await PaperPreference.update(
                {PaperPreference.paper_optout: paper_optout, PaperPreference.changed_at: moment}
            ).where(PaperPreference.account == account_id)
        payers = await account_payers(account_id)
        await mailer.send(
            commune,
            "paper_optout_request",
            notify,
            paper_optout=paper_optout,
            account_email=account_email or "",
            payers=payers,
            changed_at=moment,
        )
    return True


async def payer_facts(commune_id: int, payer_id: int) -> list[tuple[str, str]]:
    """The back office's "Factures papier" line of a family (hook `payer_facts`): the choice of
    the commune's accounts that see the payer (paper, the default, when none chose)."""
    # The accounts' tables are the core's: named in SQL, as the plugin imports no accounts code.
    rows = await PaperPreference.raw(
        "SELECT p.paper_optout, p.changed_at FROM paper_preference p"
        " JOIN account_payer l ON l.account = p.account"
        " JOIN account a ON a.id = p.account"
        " WHERE l.payer = {} AND a.commune = {} AND p.paper_optout"
        " ORDER BY p.changed_at DESC",
        payer_id,
        commune_id,
    )
    label = t("paper_optout.facts.label")
    if not rows:
        return [(label, t("paper_optout.facts.paper"))]
    return [(label, t("paper_optout.facts.no_paper", date=date(rows[0]["changed_at"])))]


async def export_section(account_id: int) -> list[ExportSection]:
    """The preference in the parent's data export (hook `account_data_export`); nothing when
    the parent never chose (paper, the default, is not data about them)."""
    current = await preference(account_id)
    rows = []
    if current.changed_at is not None:
        rows = [{"paper_optout": current.paper_optout, "changed_at": as_aware(current.changed_at)}]
    columns = [
        ExportColumn("paper_optout", t("paper_optout.export.paper_optout"), "yes_no"),
        ExportColumn("changed_at", t("paper_optout.export.changed_at"), "datetime"),
    ]
    title = t("paper_optout.export.title")
    return [ExportSection("paper_optout", title, columns, rows, single=True)]


async def forget(account_id: int) -> None:
    """Delete the account's preference (hook `account_deleted`, in the deletion's transaction)."""
    await PaperPreference.delete().where(PaperPreference.account == account_id)
