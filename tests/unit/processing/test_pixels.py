"""The processing job's pixel steps: the scan apart, each later step failing by name."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imghost.imaging.probe import ProbeError
from imghost.processing import pixels
from imghost.processing.pixels import StepFailed, analyze, scan_original
from tests.unit.imaging.helpers import encode, gps_exif

PRESETS = [("thumb", "jpg"), ("small", "webp")]


@pytest.fixture
def gps_jpeg(tmp_path: Path) -> Path:
    path = tmp_path / "gps.jpg"
    img = Image.new("RGB", (90, 60), (30, 90, 160))
    path.write_bytes(encode(img, "JPEG", exif=gps_exif().tobytes()))
    return path


def _undecodable(*_: Any, **__: Any) -> Any:
    raise ProbeError(422, "corrupt_image", "The image data is corrupt.")


def test_the_scan_says_whether_the_original_carries_gps(gps_jpeg: Path, tmp_path: Path) -> None:
    assert scan_original(str(gps_jpeg), "jpeg", 10**8) == pixels.ScanResult(True, None, True)
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert scan_original(str(plain), "png", 10**8).gps is False
    refused = tmp_path / "php.png"
    refused.write_bytes(plain.read_bytes() + b"<?php echo 1; ?>" + b" " * 2048)
    verdict = scan_original(str(refused), "png", 10**8)
    assert not verdict.clean and verdict.reason


def test_all_steps_pass(gps_jpeg: Path) -> None:
    result = analyze(str(gps_jpeg), "jpeg", 10**8, PRESETS)
    assert result.failure is None and result.width == 90
    assert [render.name for render in result.renders] == ["thumb.jpg", "small.webp"]
    assert result.scrubbed_path is not None
    # The owner shares GPS: no copy is made.
    assert analyze(str(gps_jpeg), "jpeg", 10**8, PRESETS, False).scrubbed_path is None


def test_presets_failing_for_good_keep_the_gps_copy_and_metadata(
    gps_jpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pixels, "render_file", _undecodable)
    result = analyze(str(gps_jpeg), "jpeg", 10**8, PRESETS)
    assert result.failure == ("derivatives", "unprocessable", "The image data is corrupt.")
    assert result.renders == [] and result.scrubbed_path is not None
    assert result.metadata is not None and result.width == 90


def test_the_first_failed_step_is_reported(gps_jpeg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pixels, "extract", _undecodable)
    monkeypatch.setattr(pixels, "scrub_gps", _undecodable)
    result = analyze(str(gps_jpeg), "jpeg", 10**8, PRESETS)
    assert result.failure is not None and result.failure[0] == "metadata"
    assert result.metadata is None and result.width is None
    assert result.scrubbed_path is None and len(result.renders) == 2


def test_other_errors_fail_the_attempt_by_step(
    gps_jpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug(*_: Any) -> Any:
        raise KeyError("oops")

    monkeypatch.setattr(pixels, "scrub_gps", bug)
    with pytest.raises(StepFailed) as caught:
        analyze(str(gps_jpeg), "jpeg", 10**8, PRESETS)
    assert caught.value.step == "gps_copy" and "KeyError" in str(caught.value)
    # It crosses the pool's process boundary intact.
    again = pickle.loads(pickle.dumps(caught.value))
    assert (again.step, str(again)) == ("gps_copy", str(caught.value))
