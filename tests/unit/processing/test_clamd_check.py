"""The worker's periodic clamd check: reach, and a stream limit that fits the
largest accepted file (else larger uploads would be quarantined as unscannable)."""

from __future__ import annotations

import logging

import anyio
import pytest

from imghost.imaging.clamd import ClamdScanner
from imghost.processing.malware import check_clamd
from imghost.testing.clamd import ClamdServer
from imghost.testing.servers import free_port


def test_a_limit_below_the_largest_file_is_an_error(
    clamd: ClamdServer, caplog: pytest.LogCaptureFixture
) -> None:
    scanner = ClamdScanner(clamd.unix_address, timeout=5)
    assert anyio.run(check_clamd, scanner, clamd.stream_max)
    with caplog.at_level(logging.ERROR):
        assert not anyio.run(check_clamd, scanner, clamd.stream_max + 1)
    assert "StreamMaxLength" in caplog.text and "IMGHOST_MAX_FILE_SIZE" in caplog.text


def test_an_unreachable_clamd_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    scanner = ClamdScanner(f"tcp://127.0.0.1:{free_port()}", timeout=2)
    with caplog.at_level(logging.WARNING):
        assert not anyio.run(check_clamd, scanner, 1000)
    assert "cannot be reached" in caplog.text
