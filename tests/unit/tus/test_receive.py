"""A body's pace follows the lease: a live request renews it in time."""

from __future__ import annotations

import pytest

from imghost.tus.config import MIN_LEASE
from imghost.tus.receive import CHECKPOINT_SECONDS, Pace


@pytest.mark.parametrize("lease", [MIN_LEASE, 8, 40, 60, 3600])
def test_renewals_come_well_within_the_lease(lease: int) -> None:
    pace = Pace.of(lease)
    assert pace.idle == lease / 2
    assert 0 < pace.checkpoint <= min(CHECKPOINT_SECONDS, lease / 8)
    # The longest a streaming body goes without renewing, before its write and
    # checkpoint: 3/8 of the lease at least are left for those.
    assert pace.checkpoint + pace.idle <= lease * 5 / 8


def test_the_default_lease_keeps_the_former_pace() -> None:
    assert Pace.of(60) == Pace(checkpoint=5.0, idle=30.0)
