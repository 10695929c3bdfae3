"""Mirror the configured communes and régies into the database, in one transaction."""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column

from core.communes.tables import Commune, Regie
from core.config import PortalConfig
from core.db import transaction


async def sync_communes(config: PortalConfig) -> dict[str, int]:
    """Insert or update every configured commune and régie; returns slug -> commune id.

    Communes or régies removed from the file are kept: invoices may still refer to them.
    """
    ids: dict[str, int] = {}
    async with transaction():
        for commune in config.communes:
            row = await Commune.objects().get(Commune.slug == commune.slug)
            if row is None:
                row = Commune(slug=commune.slug, name=commune.name)
                await row.save()
            elif row.name != commune.name:
                await Commune.update({Commune.name: commune.name}).where(Commune.id == row.id)
            ids[commune.slug] = row.id
            for regie in commune.regies:
                values: dict[Column | str, Any] = {
                    Regie.name: regie.name,
                    Regie.client_number: regie.client_number,
                }
                existing = (
                    await Regie.select(Regie.id)
                    .where((Regie.commune == row.id) & (Regie.code == regie.code))
                    .first()
                )
                if existing is None:
                    await Regie.insert(
                        Regie(
                            commune=row.id,
                            code=regie.code,
                            name=regie.name,
                            client_number=regie.client_number,
                        )
                    )
                else:
                    await Regie.update(values).where(Regie.id == existing["id"])
    return ids
