"""The pixel work of the processing job, as plain functions a pool process can run.

Arguments and results are plain data (paths as strings, bytes, dataclasses),
so they cross the process boundary by pickle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imghost.imaging.gps import scrub_gps
from imghost.imaging.metadata import extract
from imghost.imaging.render import Rendered, RenderSpec, render_file
from imghost.imaging.scan import StructuralScanner
from imghost.processing.variants import preset_render_spec


@dataclass(frozen=True)
class Analysis:
    clean: bool
    reason: str | None
    metadata: dict[str, Any]
    gps: dict[str, Any] | None
    renders: list[tuple[str, bytes]]
    width: int
    height: int
    # Set when the original carries GPS: a copy with GPS scrubbed, written
    # next to the input, and its SHA-256.
    scrubbed_path: str | None = None
    scrubbed_sha256: str | None = None


def analyze(
    path: str, format_name: str, max_pixels: int, presets: list[tuple[str, str]]
) -> Analysis:
    """Scan, extract metadata, render the pre-generated presets, scrub GPS."""
    source = Path(path)
    verdict = StructuralScanner().scan(source, format_name)
    if not verdict.clean:
        return Analysis(False, verdict.reason, {}, None, [], 0, 0)
    meta = extract(source)
    specs = [preset_render_spec(name, ext) for name, ext in presets]
    rendered = render_file(source, specs, max_pixels)
    renders = [(f"{name}.{ext}", r.data) for (name, ext), r in zip(presets, rendered, strict=True)]
    scrubbed_path = scrubbed_sha = None
    if meta.gps is not None:
        data = source.read_bytes()
        clean = scrub_gps(data)
        if clean != data:
            target = source.with_name(source.name + ".public")
            target.write_bytes(clean)
            scrubbed_path, scrubbed_sha = str(target), hashlib.sha256(clean).hexdigest()
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
    )


def render_one(path: str, spec: RenderSpec, max_pixels: int) -> Rendered:
    """One derivative, for on-demand requests."""
    return render_file(Path(path), [spec], max_pixels)[0]
