"""The processing job's pixel steps: the scan apart, each later step failing by name."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imghost.imaging.probe import ProbeError
from imghost.imaging.render import render_file
from imghost.processing import pixels
from imghost.processing.pixels import StepFailed, analyze, scan_original
from imghost.processing.variants import preset_render_spec
from tests.unit.imaging.helpers import encode, gps_exif, pattern

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
    monkeypatch.setattr(pixels, "prepare_file", _undecodable)
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


ALL = [(name, ext) for name in ("thumb", "small", "medium", "large") for ext in ("jpg", "webp")]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_the_thumbnail_pass_comes_first(tmp_path: Path, fmt: str) -> None:
    """The first pass makes the thumbnails alone. A PNG is decoded there once
    for every preset (the second pass reads its pixels back, and the PDQ hash
    comes from that decode); a JPEG is decoded small there and again after."""
    path = tmp_path / "photo"
    path.write_bytes(encode(pattern((1100, 800)), fmt))
    handoff = tmp_path / "pixels"
    name = fmt.lower()
    first = pixels.first_pass(str(path), name, 10**8, ALL, str(handoff))
    assert [r.name for r in first.renders] == ["thumb.jpg", "thumb.webp"]
    assert first.failure is None and first.handoff is (fmt == "PNG") is handoff.exists()
    assert (first.pdq_input is not None) is (fmt == "PNG")
    left = str(handoff) if first.handoff else None
    second = pixels.second_pass(str(path), name, 10**8, ALL, True, left, None)
    assert (second.pdq_input is None) is (fmt == "PNG")
    whole = pixels.merge(first, second)
    assert sorted(r.name for r in whole.renders) == sorted(f"{n}.{e}" for n, e in ALL)
    assert whole.failure is None and whole.pdq_input is not None
    assert whole.metadata is not None and whole.metadata["placeholder"]
    assert {"decode", "thumb", "small", "medium", "large", "metadata"} <= set(whole.timings)
    # The same pixels as one decode for everything (a JPEG's thumbnail, from
    # its reduced decode, may differ in its last bits).
    assert {(r.name, r.width, r.height) for r in whole.renders} == {
        (r.name, r.width, r.height) for r in analyze(str(path), name, 10**8, ALL).renders
    }
    if fmt == "PNG":
        expected = render_file(path, [preset_render_spec(n, e) for n, e in ALL], 10**8)
        made = {r.name: r.data for r in whole.renders}
        assert [made[f"{n}.{e}"] for n, e in ALL] == [r.data for r in expected]


def test_an_undecodable_image_fails_in_the_first_pass(
    gps_jpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pixels, "prepare_file", _undecodable)
    first = pixels.first_pass(str(gps_jpeg), "jpeg", 10**8, ALL, str(gps_jpeg) + ".pixels")
    assert first.renders == [] and first.failure is not None
    second = pixels.second_pass(str(gps_jpeg), "jpeg", 10**8, ALL, True, None, first.failure)
    assert second.failure == ("derivatives", "unprocessable", "The image data is corrupt.")
    assert second.renders == [] and second.metadata is not None
