"""A purge command must exit 0 in time; how it failed is the attempt's error."""

from __future__ import annotations

import json
import sys

import pytest

from imghost.cdn.config import purge_config
from imghost.cdn.purge import PurgeFailed, purge
from imghost.settings import Settings

pytestmark = pytest.mark.anyio

# Exits 0 only when its argument arrived as written: no shell expanded `$HOME` or split at `;`.
UNTOUCHED = "import sys; sys.exit(0 if sys.argv[1] in ('$HOME; img_a', '$HOME; img_b') else 5)"
FAILS = "import sys; sys.stderr.write('AccessDenied'); sys.exit(3)"


def command(*argv: str, timeout: float = 30.0) -> Settings:
    return Settings(cdn_purge_command=json.dumps(list(argv)), cdn_purge_timeout=timeout)


async def test_the_command_runs_without_a_shell() -> None:
    config = purge_config(command(sys.executable, "-c", UNTOUCHED, "$HOME; {image_id}"))
    assert await purge(config, ["img_a", "img_b"]) == 2  # one call per image


async def test_a_failing_command_says_how() -> None:
    with pytest.raises(PurgeFailed, match="exited with status 3: AccessDenied"):
        await purge(purge_config(command(sys.executable, "-c", FAILS)), ["img_a"])
    with pytest.raises(PurgeFailed, match="could not start"):
        await purge(purge_config(command("/nonexistent/purge-tool", "{image_ids}")), ["img_a"])


async def test_a_command_over_its_time_is_stopped() -> None:
    slow = command(sys.executable, "-c", "import time; time.sleep(60)", timeout=0.3)
    with pytest.raises(PurgeFailed, match=r"took longer than 0\.3 s"):
        await purge(purge_config(slow), ["img_a"])
