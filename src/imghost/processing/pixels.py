"""The pixel work of the processing job, as plain functions a pool process can run.

Two calls: the scan (its verdict is recorded before anything else runs, so a
later failure cannot lose it), then metadata, the GPS-free copy and the
pre-generated presets, each a step whose failure is reported by name.

Arguments and results are plain data (paths as strings, bytes, dataclasses),
so they cross the process boundary by pickle.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from imghost.imaging.decode import decode_upright
from imghost.imaging.gps import has_gps, scrub_gps
from imghost.imaging.metadata import extract
from imghost.imaging.pdq import HASH_SIDE, PdqInput, hash_input
from imghost.imaging.probe import ProbeError
from imghost.imaging.render import Rendered, RenderSpec, render_file
from imghost.imaging.scan import StructuralScanner
from imghost.processing.variants import preset_render_spec


class StepFailed(Exception):
    """A step of :func:`analyze` raised something other than an undecodable
    image (retried like any error); names the step for the failure record."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(step, detail)  # args rebuild it after a pickle round trip
        self.step, self.detail = step, detail

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class Render:
    """A pre-generated preset: ``name`` is its file name (``thumb.jpg``)."""

    name: str
    data: bytes
    width: int
    height: int
    # Hashed here, in the pixel worker, so the job's event loop does not.
    sha256: str


@dataclass(frozen=True)
class ScanResult:
    clean: bool
    reason: str | None
    gps: bool  # the original carries a GPS tag (any, even one extract() cannot parse)


def scan_original(path: str, format_name: str, max_pixels: int) -> ScanResult:
    """The scan step, on its own so its verdict is kept whatever follows."""
    source = Path(path)
    # The upload already decoded every frame in full (imaging.probe), so the
    # scan skips its own decode.
    verdict = StructuralScanner(max_pixels, decode=False).scan(source, format_name)
    if not verdict.clean:
        return ScanResult(False, verdict.reason, False)
    return ScanResult(True, None, has_gps(source.read_bytes()))


@dataclass(frozen=True)
class Analysis:
    metadata: dict[str, Any] | None  # None: the metadata step failed
    gps: dict[str, Any] | None
    renders: list[Render]
    width: int | None
    height: int | None
    # Set when the original carries GPS: a copy with GPS scrubbed, written
    # next to the input, and its SHA-256.
    scrubbed_path: str | None = None
    scrubbed_sha256: str | None = None
    scrubbed_size: int | None = None
    # (step, code, detail) of the first step that cannot handle these bytes;
    # the others still ran, so what they made is kept.
    failure: tuple[str, str, str] | None = None
    # A small copy of the pixels the presets were made from, for the PDQ hash
    # the job computes (None: the image could not be decoded).
    pdq_input: PdqInput | None = None


T = TypeVar("T")


def _step(step: str, failures: list[tuple[str, str, str]], fn: Callable[[], T]) -> T | None:
    """Run one step: bytes it cannot handle fail it for good (no retry would
    help) and the next steps still run; any other error fails the attempt."""
    try:
        return fn()
    except ProbeError as exc:
        failures.append((step, "unprocessable", exc.detail))
        return None
    except MemoryError:
        raise  # the pool's limit: reported as such by the job
    except Exception as exc:
        raise StepFailed(step, f"{step}: {type(exc).__name__}: {exc}") from exc


def analyze(
    path: str,
    format_name: str,
    max_pixels: int,
    presets: list[tuple[str, str]],
    gps_copy: bool = True,
) -> Analysis:
    """Extract metadata, scrub GPS, render the pre-generated presets (the
    scan ran before, :func:`scan_original`). The GPS-free copy comes before
    the renders, so an image whose presets cannot be made is still served
    to others. ``gps_copy``: false when the owner opted in to sharing GPS
    (the original goes to everyone; a copy would never be served)."""
    source = Path(path)
    failures: list[tuple[str, str, str]] = []
    meta = _step("metadata", failures, lambda: extract(source))
    scrubbed = _step("gps_copy", failures, lambda: _scrub(source)) if gps_copy else None
    specs = [preset_render_spec(name, ext) for name, ext in presets]
    hashed: list[PdqInput] = []
    # PDQ from the decode the presets are made from: the hash costs no decode of its own.
    rendered = _step(
        "derivatives",
        failures,
        lambda: render_file(source, specs, max_pixels, lambda img: hashed.append(hash_input(img))),
    )
    renders = (
        []
        if rendered is None
        else [
            Render(f"{n}.{e}", r.data, r.width, r.height, hashlib.sha256(r.data).hexdigest())
            for (n, e), r in zip(presets, rendered, strict=True)
        ]
    )
    info: dict[str, Any] | None = None
    if meta is not None:
        info = meta.to_json(include_gps=False)
        info.pop("gps", None)  # GPS lives apart, in its own column, only when opted in
    scrubbed_path, scrubbed_sha, scrubbed_size = scrubbed or (None, None, None)
    return Analysis(
        metadata=info,
        gps=None if meta is None else meta.gps_json(),
        renders=renders,
        width=None if meta is None else meta.width,
        height=None if meta is None else meta.height,
        scrubbed_path=scrubbed_path,
        scrubbed_sha256=scrubbed_sha,
        scrubbed_size=scrubbed_size,
        failure=failures[0] if failures else None,
        pdq_input=hashed[0] if hashed else None,
    )


def _scrub(source: Path) -> tuple[str | None, str | None, int | None]:
    """(path, sha256, size) of a copy without GPS, or Nones when there is no GPS."""
    data = source.read_bytes()
    # Any GPS tag counts, even a partial position extract() could not parse.
    if not has_gps(data):
        return None, None, None
    clean = scrub_gps(data)
    if has_gps(clean):
        # GPS inside compressed PNG text cannot be blanked in place: serve a
        # re-encoding without metadata instead (pixels kept, bytes differ).
        clean = _reencode_without_metadata(source)
    target = source.with_name(source.name + ".public")
    target.write_bytes(clean)
    return str(target), hashlib.sha256(clean).hexdigest(), len(clean)


def _reencode_without_metadata(source: Path) -> bytes:
    with Image.open(source) as img:
        out = io.BytesIO()
        fmt = img.format or "PNG"
        frames = getattr(img, "n_frames", 1)
        options: dict[str, Any] = {"quality": 95} if fmt == "JPEG" else {}
        if frames > 1 and fmt in ("PNG", "GIF", "WEBP"):
            options["save_all"] = True
        img.save(out, fmt, **options)
        return out.getvalue()


def pdq_file(path: str, max_pixels: int) -> PdqInput:
    """What the PDQ hash of a stored original that has none yet is computed
    from (a rescan of an image processed before hash lists): one decode,
    reduced to what PDQ needs."""

    def plan(width: int, height: int) -> tuple[int, int] | None:
        scale = min(1.0, HASH_SIDE / max(width, height, 1))
        return max(1, round(width * scale)), max(1, round(height * scale))

    return hash_input(decode_upright(Path(path), max_pixels, plan).image)


def render_one(path: str, spec: RenderSpec, max_pixels: int) -> Rendered:
    """One derivative, for on-demand requests."""
    return render_file(Path(path), [spec], max_pixels)[0]
