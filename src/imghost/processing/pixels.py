"""The pixel work of the processing job, as plain functions a pool process can run.

Arguments and results are plain data (paths as strings, bytes, dataclasses),
so they cross the process boundary by pickle.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from imghost.imaging.gps import has_gps, scrub_gps
from imghost.imaging.metadata import extract
from imghost.imaging.render import Rendered, RenderSpec, render_file
from imghost.imaging.scan import StructuralScanner
from imghost.processing.variants import preset_render_spec


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
class Analysis:
    clean: bool
    reason: str | None
    metadata: dict[str, Any]
    gps: dict[str, Any] | None
    renders: list[Render]
    width: int
    height: int
    # Set when the original carries GPS: a copy with GPS scrubbed, written
    # next to the input, and its SHA-256.
    scrubbed_path: str | None = None
    scrubbed_sha256: str | None = None
    scrubbed_size: int | None = None


def analyze(
    path: str, format_name: str, max_pixels: int, presets: list[tuple[str, str]]
) -> Analysis:
    """Scan, extract metadata, render the pre-generated presets, scrub GPS."""
    source = Path(path)
    # The upload already decoded every frame in full (imaging.probe), so the
    # scan skips its own decode; rendering below decodes again anyway.
    verdict = StructuralScanner(max_pixels, decode=False).scan(source, format_name)
    if not verdict.clean:
        return Analysis(False, verdict.reason, {}, None, [], 0, 0)
    meta = extract(source)
    specs = [preset_render_spec(name, ext) for name, ext in presets]
    rendered = render_file(source, specs, max_pixels)
    renders = [
        Render(f"{name}.{ext}", r.data, r.width, r.height, hashlib.sha256(r.data).hexdigest())
        for (name, ext), r in zip(presets, rendered, strict=True)
    ]
    scrubbed_path = scrubbed_sha = None
    scrubbed_size = None
    data = source.read_bytes()
    # Any GPS tag counts, even a partial position extract() could not parse.
    if has_gps(data):
        clean = scrub_gps(data)
        if has_gps(clean):
            # GPS inside compressed PNG text cannot be blanked in place: serve a
            # re-encoding without metadata instead (pixels kept, bytes differ).
            clean = _reencode_without_metadata(source)
        target = source.with_name(source.name + ".public")
        target.write_bytes(clean)
        scrubbed_path, scrubbed_sha = str(target), hashlib.sha256(clean).hexdigest()
        scrubbed_size = len(clean)
    info = meta.to_json(include_gps=False)
    info.pop("gps", None)  # GPS lives apart, in its own column, only when opted in
    return Analysis(
        clean=True,
        reason=None,
        metadata=info,
        gps=meta.gps_json(),
        renders=renders,
        width=meta.width,
        height=meta.height,
        scrubbed_path=scrubbed_path,
        scrubbed_sha256=scrubbed_sha,
        scrubbed_size=scrubbed_size,
    )


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


def render_one(path: str, spec: RenderSpec, max_pixels: int) -> Rendered:
    """One derivative, for on-demand requests."""
    return render_file(Path(path), [spec], max_pixels)[0]
