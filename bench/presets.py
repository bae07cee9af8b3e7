"""Part 1: time to make every pre-generated preset of one image, as the worker does.

Two functions are timed, in this process, one call after another:

- ``render_file(path, specs, max_pixels)``: decode once, render the 8 presets;
- ``analyze(path, format, max_pixels, PREGENERATED)``: the worker's whole pixel
  job (structural scan, metadata extraction, the same renders, GPS scrub).
"""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.sources import SourceImage
from imghost.imaging.render import Rendered, RenderSpec, render_file
from imghost.processing.variants import PREGENERATED, preset_name, preset_render_spec
from imghost.settings import Settings


def preset_specs() -> list[tuple[str, RenderSpec]]:
    """``[("thumb.jpg", spec), ...]``: what the worker pre-generates, in its order."""
    return [(preset_name(name, ext), preset_render_spec(name, ext)) for name, ext in PREGENERATED]


def max_pixels() -> int:
    return Settings().max_pixels


def load_analyze() -> tuple[Callable[..., Any] | None, str | None]:
    """``imghost.processing.pixels.analyze``, or None and why it cannot be imported."""
    try:
        from imghost.processing.pixels import analyze
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return analyze, None


@dataclass(frozen=True)
class Output:
    name: str  # thumb.jpg, ...
    width: int
    height: int
    bytes: int

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "width": self.width, "height": self.height, "bytes": self.bytes}


@dataclass
class PresetTiming:
    image: SourceImage
    render_ms: list[float] = field(default_factory=list)
    analyze_ms: list[float] = field(default_factory=list)
    # CPU time of this process (all threads) per call: wall ≫ CPU means a busy machine.
    render_cpu_ms: list[float] = field(default_factory=list)
    analyze_cpu_ms: list[float] = field(default_factory=list)
    analyze_error: str | None = None
    outputs: list[Output] = field(default_factory=list)

    @property
    def render_median(self) -> float:
        return statistics.median(self.render_ms)

    @property
    def analyze_median(self) -> float | None:
        return statistics.median(self.analyze_ms) if self.analyze_ms else None

    @property
    def render_cpu_median(self) -> float:
        return statistics.median(self.render_cpu_ms)

    @property
    def analyze_cpu_median(self) -> float | None:
        return statistics.median(self.analyze_cpu_ms) if self.analyze_cpu_ms else None

    @property
    def within_floor(self) -> bool:
        slowest = max(self.render_median, self.analyze_median or 0.0)
        return slowest < self.image.floor_ms

    def as_json(self) -> dict[str, object]:
        return {
            "render_file_median_ms": round(self.render_median, 1),
            "render_file_samples_ms": [round(v, 1) for v in self.render_ms],
            "render_file_cpu_median_ms": round(self.render_cpu_median, 1),
            "analyze_median_ms": (
                round(self.analyze_median, 1) if self.analyze_median is not None else None
            ),
            "analyze_samples_ms": [round(v, 1) for v in self.analyze_ms],
            "analyze_cpu_median_ms": (
                round(self.analyze_cpu_median, 1) if self.analyze_cpu_median is not None else None
            ),
            "analyze_error": self.analyze_error,
            "floor_ms": self.image.floor_ms,
            "within_floor": self.within_floor,
            "outputs": [o.as_json() for o in self.outputs],
        }


def _timed(call: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, CPU ms of this process) of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    call()
    return (time.perf_counter() - start) * 1e3, (time.process_time() - cpu) * 1e3


def _clean_side_files(path: Path) -> None:
    # analyze writes a GPS-scrubbed copy next to its input; the job deletes it after.
    path.with_name(path.name + ".public").unlink(missing_ok=True)


def measure(image: SourceImage, runs: int, warmup: int = 1) -> PresetTiming:
    """Median of ``runs`` calls of each function, after ``warmup`` untimed calls."""
    timing = PresetTiming(image)
    named = preset_specs()
    specs = [spec for _, spec in named]
    limit = max_pixels()
    rendered: list[Rendered] = []

    def render() -> None:
        rendered[:] = render_file(image.path, specs, limit)

    for i in range(warmup + runs):
        elapsed, cpu = _timed(render)
        if i >= warmup:
            timing.render_ms.append(elapsed)
            timing.render_cpu_ms.append(cpu)
    timing.outputs = [
        Output(name, r.width, r.height, len(r.data))
        for (name, _), r in zip(named, rendered, strict=True)
    ]

    analyze, why = load_analyze()
    if analyze is None:
        timing.analyze_error = why
        return timing
    presets = list(PREGENERATED)
    results: list[Any] = []
    try:
        for i in range(warmup + runs):
            elapsed, cpu = _timed(
                lambda: results.append(analyze(str(image.path), image.format, limit, presets))
            )
            _clean_side_files(image.path)
            if i >= warmup:
                timing.analyze_ms.append(elapsed)
                timing.analyze_cpu_ms.append(cpu)
        failure = results[-1].failure
        if failure is not None:  # a failed step is a short cut, not the job's real cost
            step, code, detail = failure
            timing.analyze_error = f"the {step} step failed: {code}: {detail}"
    except Exception as exc:
        timing.analyze_ms.clear()
        timing.analyze_cpu_ms.clear()
        timing.analyze_error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    return timing
