"""API keys: shown once, stored hashed, verified per commune, revoked, journalled."""

from __future__ import annotations

import pytest

from core.backoffice.api_keys import create_api_key, list_api_keys, revoke_api_key, verify_api_key
from core.backoffice.identity import NotAllowed
from core.backoffice.journal import list_entries
from core.backoffice.tables import ApiKey
from core.communes.context import CommuneContext
from core.mail.mailer import Mailer
from core.web.forms import Problems
from tests.integration.backoffice.conftest import make_agent


async def test_create_verify_revoke(communes: dict[str, CommuneContext], mailer: Mailer) -> None:
    boe, aure = communes["boe"], communes["aure"]
    admin = await make_agent(boe, mailer, "admin@boe.test", "administrateur")
    key, plain = await create_api_key(boe.id, "  Logiciel  ", admin, "192.0.2.1")
    assert plain.startswith("pdf_") and len(plain) >= 4 + 43
    assert (key.label, key.prefix, key.created_by) == ("Logiciel", plain[:8], admin.id)
    assert not await ApiKey.exists().where(ApiKey.key_hash == plain)

    verified = await verify_api_key(boe.id, plain)
    assert verified is not None and verified.id == key.id and verified.last_used_at is not None
    assert await verify_api_key(aure.id, plain) is None  # another commune's
    assert await verify_api_key(boe.id, plain[:-1] + ("A" if plain[-1] != "A" else "B")) is None
    assert await verify_api_key(boe.id, "sans-préfixe") is None

    assert await revoke_api_key(boe.id, key.id, admin)
    assert not await revoke_api_key(boe.id, key.id, admin)  # already revoked
    assert await verify_api_key(boe.id, plain) is None
    [listed] = await list_api_keys(boe.id)
    assert not listed.active

    entries = (await list_entries(boe.id)).entries
    assert [e.action for e in entries[:2]] == ["api_keys.revoke", "api_keys.create"]
    assert plain not in str([(e.before, e.after, e.target) for e in entries])


async def test_only_administrators_of_the_commune(
    communes: dict[str, CommuneContext], mailer: Mailer
) -> None:
    boe, aure = communes["boe"], communes["aure"]
    worker = await make_agent(boe, mailer, "g@boe.test", "gestionnaire")
    admin = await make_agent(boe, mailer, "admin@boe.test", "administrateur")
    with pytest.raises(NotAllowed):
        await create_api_key(boe.id, "Logiciel", worker)
    with pytest.raises(NotAllowed):
        await create_api_key(aure.id, "Logiciel", admin)
    with pytest.raises(Problems):
        await create_api_key(boe.id, "   ", admin)
    key, _ = await create_api_key(boe.id, "Logiciel", admin)
    assert not await revoke_api_key(
        aure.id, key.id, await make_agent(aure, mailer, "admin@aure.test", "administrateur")
    )
