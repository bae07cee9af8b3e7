"""Every test here runs on both backends, plaintext and encrypted at rest."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS_AND_ENCRYPTED


@pytest.fixture(params=BACKENDS_AND_ENCRYPTED)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
