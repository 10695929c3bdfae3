"""Every payment state has its words wherever a state is shown (a new state without them would
answer 500 on the agents' list)."""

from __future__ import annotations

import pytest

from core.i18n import has
from core.payments.tables import STATES


@pytest.mark.parametrize("state", STATES)
def test_every_state_has_its_labels(state: str) -> None:
    assert has(f"backoffice.payments.state.{state}")
    assert has(f"payments.state.{state}")
    assert has(f"flash.payments_recheck_{state}")
