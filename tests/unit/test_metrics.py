"""Multiprocess metrics: processes writing to one directory add up; the files of
processes that are gone are cleared; labels stay bounded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from imghost import metrics

WRITER = """
import sys
from imghost import metrics
metrics.enable(sys.argv[1], "worker")
metrics.upload_bytes("tus", 5)
metrics.http_request("/healthz", "BREW", 200, 0.01)
if sys.argv[2] == "clean":
    metrics.mark_dead()
"""


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_two_processes_add_up_and_stale_files_go(tmp_path: Path) -> None:
    directory = str(tmp_path / "metrics")
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, directory, how])
        for how in ("clean", "killed")
    ]
    assert [w.wait(30) for w in writers] == [0, 0]
    found = _samples(metrics.render(directory=directory))
    assert found[("imghost_upload_bytes_total", (("kind", "tus"),))] == 10
    # A method nobody defined is not a new series.
    key = (("method", "other"), ("route", "/healthz"), ("status", "2xx"))
    assert found[("imghost_http_requests_total", key)] == 2
    # The process that stopped cleanly took its live gauge with it.
    assert found[("imghost_processes", (("role", "worker"),))] == 1

    removed = metrics.clear_stale(directory)
    assert removed and not list(Path(directory).glob("*.db"))
