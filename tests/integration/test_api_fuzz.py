"""Property-based API fuzzing (schemathesis) from our own OpenAPI document.

Every generated request, valid or not, must get a non-5xx answer whose
Content-Type is documented (JSON, or problem+json for errors).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer
from tests.factories import make_user

ST = Path(sys.executable).parent / "st"

# The operations in shards by tag, so that xdist runs them side by side (one run
# over the whole API was the longest test of the suite). The last shard is
# everything the others do not name, so a new tag cannot go unfuzzed.
SHARDS = ("sharing|search|analytics|ops", "orgs|notifications")
SHARD_ARGS = [
    *(["--include-tag-regex", f"^({tags})$"] for tags in SHARDS),
    ["--exclude-tag-regex", f"^({'|'.join(SHARDS)})$"],
]


@pytest.mark.slow
@pytest.mark.parametrize("shard", SHARD_ARGS, ids=["sharing", "orgs", "rest"])
# On PostgreSQL + S3, the stricter backend (NUL bytes, integer ranges, string
# lengths): what the fuzzer finds is in request handling, and SQLite's run of
# the same requests added half a minute to the suite and never found more.
@pytest.mark.parametrize("backend", ["postgres-s3"], indirect=True)
def test_no_server_errors_under_fuzzing(
    client: httpx.Client, live: LiveServer, shard: list[str], backend: str
) -> None:
    user = make_user(client)
    # The coverage phase's cases (every boundary of every parameter, about 1,800
    # for the last shard) are the same each run; the random phases draw new ones.
    phases = ["examples", "coverage", "fuzzing", "stateful"]
    result = subprocess.run(
        [
            str(ST),
            "run",
            f"{live.url}/openapi.json",
            "-H",
            f"Authorization: Bearer {user.access_token}",
            "--checks",
            "not_a_server_error,content_type_conformance",
            "--phases",
            ",".join(phases),
            "--max-examples",
            # Ten per operation; each run draws new ones.
            # IMGHOST_FUZZ_EXAMPLES=500 for a long hunt.
            os.environ.get("IMGHOST_FUZZ_EXAMPLES", "10"),
            # These two would revoke the fuzzer's own credentials mid-run.
            "--exclude-path",
            "/v1/auth/logout",
            "--exclude-path",
            "/v1/users/me/api-keys/{key_id}",
            *shard,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # A shard whose tags match nothing would pass having tested nothing.
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert tested is not None and int(tested.group(1)) > 0, result.stdout[-3000:]
