"""The alert e-mails of an import: one per address of each active account whose payers
received new invoices (not updated ones), listing them, queued through the outbox."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

import jinja2

from core import db_bulk
from core.invoices.alerts import alert_recipients
from core.invoices.importer.parsing import InvoiceLine, show_date
from core.mail.bulk import EmailTemplate, Message

ALERT_TEMPLATE = "new_invoices"


async def accounts_to_alert(
    commune_id: int,
    new_by_payer: dict[int, list[InvoiceLine]],
    new_links: Iterable[tuple[int, int]] = (),
) -> dict[int, list[int]]:
    """The commune's active accounts that see payers with new invoices: account id -> those
    payers' ids. `new_links` are (account id, payer id) links not written yet (a dry run's)."""
    # Every link of the commune's active accounts in one query, filtered here: a big import
    # touches thousands of payers, and an IN list that long costs more than the commune's links.
    payers_of: dict[int, list[int]] = defaultdict(list)
    for account_id, payer_id in await db_bulk.fetch_tuples(
        'SELECT ap."account", ap."payer" FROM "account_payer" ap '
        'JOIN "account" a ON a."id" = ap."account" WHERE a."commune" = ? AND a."state" = ?',
        [commune_id, "active"],
    ):
        if payer_id in new_by_payer:
            payers_of[account_id].append(payer_id)
    pending = [(a, p) for a, p in new_links if p in new_by_payer]
    if pending:
        active = {
            row["id"]
            for row in await db_bulk.fetch_in(
                'SELECT "id" FROM "account" WHERE "commune" = ? AND "state" = ? AND "id" IN ({in})',
                sorted({account_id for account_id, _ in pending}),
                before=[commune_id, "active"],
            )
        }
        for account_id, payer_id in pending:
            if account_id in active:
                payers_of[account_id].append(payer_id)
    return payers_of


async def alert_messages(
    commune_id: int,
    commune: dict[str, Any],
    new_by_payer: dict[int, list[InvoiceLine]],
    env: jinja2.Environment,
    base_url: str,
) -> list[Message]:
    """One e-mail per address of each active account whose payers got new invoices, rendered
    in a worker thread (the event loop keeps serving meanwhile)."""
    if not new_by_payer:
        return []
    payers_of = await accounts_to_alert(commune_id, new_by_payer)
    if not payers_of:
        return []
    recipients = await alert_recipients(sorted(payers_of))
    link = f"{base_url.rstrip('/')}/{commune['slug']}/factures"
    return await asyncio.to_thread(
        _render_alerts, env, commune, link, payers_of, new_by_payer, recipients
    )


async def count_alerts(
    commune_id: int,
    new_by_payer: dict[int, list[InvoiceLine]],
    new_links: Iterable[tuple[int, int]],
) -> int:
    """How many e-mails `alert_messages` would queue once `new_links` are written."""
    if not new_by_payer:
        return 0
    payers_of = await accounts_to_alert(commune_id, new_by_payer, new_links)
    if not payers_of:
        return 0
    recipients = await alert_recipients(sorted(payers_of))
    return sum(len(dict.fromkeys(recipients.get(account_id, ()))) for account_id in payers_of)


class AlertItem(NamedTuple):
    """An invoice as the alert e-mail lists it (attributes, which Jinja reads fastest)."""

    number: str
    object: str
    amount: str
    due: str
    status: str
    direct_debit: bool
    debit: str
    order: tuple[dt.date, str]


def money_fr(cents: int) -> str:
    """`core.web.formatting.money` without Babel (100 times faster, same text): '1 234,56 €'."""
    return f"{cents // 100:,}".replace(",", "\u202f") + f",{cents % 100:02d}\u00a0€"


class _Items:
    """The alert items of each payer's new invoices, built once (amounts formatted once)."""

    def __init__(self, new_by_payer: dict[int, list[InvoiceLine]]) -> None:
        self.new_by_payer = new_by_payer
        self.shown: dict[int, list[AlertItem]] = {}  # payer id -> its new invoices
        self.amounts: dict[int, str] = {}

    def amount(self, cents: int) -> str:
        text = self.amounts.get(cents)
        if text is None:
            text = self.amounts[cents] = money_fr(cents)
        return text

    def of(self, payer_id: int) -> list[AlertItem]:
        items = self.shown.get(payer_id)
        if items is None:
            items = self.shown[payer_id] = [
                AlertItem(
                    number=line.number,
                    object=line.object,
                    amount=self.amount(line.amount_cents),
                    due=show_date(line.due_on) if line.due_on else "",
                    status=line.status,
                    direct_debit=line.direct_debit,
                    debit=show_date(line.debit_on) if line.debit_on else "",
                    order=(line.due_on or line.issued_on, line.number),
                )
                for line in self.new_by_payer[payer_id]
            ]
        return items


def _render_alerts(
    env: jinja2.Environment,
    commune: dict[str, Any],
    link: str,
    payers_of: dict[int, list[int]],
    new_by_payer: dict[int, list[InvoiceLine]],
    recipients: dict[int, list[str]],
) -> list[Message]:
    template = EmailTemplate(env, ALERT_TEMPLATE)
    items = _Items(new_by_payer)
    messages: list[Message] = []
    for account_id, payer_list in sorted(payers_of.items()):
        addresses = list(dict.fromkeys(recipients.get(account_id, ())))
        if not addresses:
            continue
        invoices = sorted(
            (item for payer_id in sorted(set(payer_list)) for item in items.of(payer_id)),
            key=lambda item: item.order,
        )
        email = template.render(commune=commune, invoices=invoices, link=link)
        messages.extend(
            Message(address, email.subject, email.text, email.html) for address in addresses
        )
    return messages
