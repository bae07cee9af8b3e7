"""Property-based API fuzzing (schemathesis) from our own OpenAPI document.

Every generated request, valid or not, must get a non-5xx answer whose
Content-Type is documented (JSON, or problem+json for errors).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer
from tests.factories import make_user

ST = Path(sys.executable).parent / "st"


@pytest.mark.slow
def test_no_server_errors_under_fuzzing(client: httpx.Client, live: LiveServer) -> None:
    user = make_user(client)
    result = subprocess.run(
        [
            str(ST),
            "run",
            f"{live.url}/openapi.json",
            "-H",
            f"Authorization: Bearer {user.access_token}",
            "--checks",
            "not_a_server_error,content_type_conformance",
            "--max-examples",
            os.environ.get("IMGHOST_FUZZ_EXAMPLES", "20"),
            # These two would revoke the fuzzer's own credentials mid-run.
            "--exclude-path",
            "/v1/auth/logout",
            "--exclude-path",
            "/v1/users/me/api-keys/{key_id}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
