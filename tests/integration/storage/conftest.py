"""Every test here runs on both backends, plaintext and encrypted at rest."""

from __future__ import annotations

from tests.conftest import BACKENDS_AND_ENCRYPTED, backend_fixture

backend = backend_fixture(BACKENDS_AND_ENCRYPTED)
