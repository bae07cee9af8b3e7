"""Every test here runs on both backends, and again encrypted at rest on SQLite +
local files (tests/conftest.py says why)."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS_AND_LOCAL_ENCRYPTED


@pytest.fixture(params=BACKENDS_AND_LOCAL_ENCRYPTED)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
