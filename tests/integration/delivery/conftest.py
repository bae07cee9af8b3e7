"""Every test here runs on both backends, and again encrypted at rest on SQLite +
local files (tests/conftest.py says why)."""

from __future__ import annotations

from tests.conftest import BACKENDS_AND_LOCAL_ENCRYPTED, backend_fixture

backend = backend_fixture(BACKENDS_AND_LOCAL_ENCRYPTED)
