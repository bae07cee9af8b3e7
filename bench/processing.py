"""The processing section: presets per image, on-demand transforms, upload-to-ready
latency with each step's time, throughput vs thumbor."""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar

from bench import presets, processing_latency, sources, throughput, thumbor, transforms
from bench.checks import Checks
from bench.sources import SourceImage

T = TypeVar("T")

# Part 2 uploads the photos: on-demand sizes of an animation or a PNG add little.
TRANSFORM_IMAGES = ("nokia-jpeg", "iphone-heic", "gen-24mp-jpeg")
SINGLE = "thumb.jpg"
GOAL_RATIO = 1.5  # imghost ÷ thumbor, images per second, all presets


@dataclass(frozen=True)
class ProcessingConfig:
    preset_runs: int = 5
    transform_sizes: int = 15
    workers: int = 2  # uvicorn workers (part 2); pool and thumbor processes (part 3)
    rounds: int = 4  # part 3, all presets: every image this many times
    single_rounds: int = 10  # part 3, the thumb JPEG only
    thumbor_concurrency: int = 4
    latency_runs: int = 5  # part 4: single uploads of each kind, per set-up
    latency_backends: tuple[str, ...] = ("sqlite-local", "postgres-s3")

    def as_json(self) -> dict[str, object]:
        return {
            "latency_runs": self.latency_runs,
            "latency_backends": list(self.latency_backends),
            "preset_runs": self.preset_runs,
            "preset_warmup_runs": 1,
            "transform_sizes_per_image": self.transform_sizes,
            "transform_images": list(TRANSFORM_IMAGES),
            "workers": self.workers,
            "throughput_rounds_all_presets": self.rounds,
            "throughput_rounds_single": self.single_rounds,
            "thumbor_concurrency": self.thumbor_concurrency,
        }


@dataclass
class ThroughputSet:
    """The rows of one workload ("all presets" or "single size")."""

    outputs: list[str]
    rounds: int
    rows: list[throughput.Throughput] = field(default_factory=list)

    def row(self, side: str) -> throughput.Throughput | None:
        return next((r for r in self.rows if r.side == side and r.error is None), None)

    def ratio(self, side: str = "imghost render_file") -> float | None:
        ours, theirs = self.row(side), self.row("thumbor")
        if ours is None or theirs is None or not theirs.images_per_s:
            return None
        return ours.images_per_s / theirs.images_per_s

    def cpu_ratio(self, side: str = "imghost render_file") -> float | None:
        """thumbor's CPU time per image ÷ imghost's: the same ratio, by CPU instead of clock."""
        ours, theirs = self.row(side), self.row("thumbor")
        if ours is None or theirs is None or not ours.cpu_ms_per_image:
            return None
        return theirs.cpu_ms_per_image / ours.cpu_ms_per_image

    def as_json(self) -> dict[str, object]:
        return {
            "outputs_per_image": self.outputs,
            "rounds": self.rounds,
            "sides": {r.side: r.as_json() for r in self.rows},
            "imghost_render_file_over_thumbor": _round(self.ratio()),
            "imghost_analyze_over_thumbor": _round(self.ratio("imghost analyze")),
            "by_cpu_time": {
                "imghost_render_file_over_thumbor": _round(self.cpu_ratio()),
                "imghost_analyze_over_thumbor": _round(self.cpu_ratio("imghost analyze")),
            },
        }


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


@dataclass
class ProcessingResult:
    config: ProcessingConfig
    images: list[SourceImage] = field(default_factory=list)
    timings: list[presets.PresetTiming] = field(default_factory=list)
    transform: transforms.TransformResult | None = None
    latency: list[processing_latency.LatencyResult] = field(default_factory=list)
    all_presets: ThroughputSet | None = None
    single: ThroughputSet | None = None
    thumbor_install: thumbor.Install | None = None
    checks: Checks = field(default_factory=Checks)
    errors: dict[str, str] = field(default_factory=dict)  # part → what went wrong
    phases_s: dict[str, float] = field(default_factory=dict)

    @property
    def thumbor_unavailable(self) -> str | None:
        if self.thumbor_install is not None and self.thumbor_install.error:
            return self.thumbor_install.error
        return None

    @property
    def ok(self) -> bool:
        transforms_ok = self.transform is None or (
            self.transform.error is None and self.transform.checks.ok
        )
        rows = [r for s in (self.all_presets, self.single) if s for r in s.rows]
        rows_ok = all(r.error is None for r in rows if r.side != "imghost analyze")
        latency_ok = all(item.error is None for item in self.latency)
        return not self.errors and self.checks.ok and transforms_ok and rows_ok and latency_ok

    def as_json(self) -> dict[str, object]:
        return {
            "images": {img.key: img.as_json() for img in self.images},
            "presets": {t.image.key: t.as_json() for t in self.timings},
            "transforms": self.transform.as_json() if self.transform else None,
            "latency": [item.as_json() for item in self.latency],
            "throughput": {
                "all_presets": self.all_presets.as_json() if self.all_presets else None,
                "single_size": self.single.as_json() if self.single else None,
                "goal_imghost_over_thumbor": GOAL_RATIO,
            },
            "thumbor": self.thumbor_install.as_json() if self.thumbor_install else None,
            "checks": self.checks.as_json(),
            "errors": self.errors,
            "phases_s": {k: round(v, 1) for k, v in self.phases_s.items()},
        }


def imaging_versions() -> dict[str, str]:
    from PIL import features
    from pillow_heif import libheif_version

    return {
        "pillow": version("pillow"),
        "pillow_heif": version("pillow-heif"),
        "libheif": str(libheif_version()),
        "libjpeg_turbo": str(features.version("libjpeg_turbo")),
        "libwebp": str(features.version("webp")),
    }


def _part(result: ProcessingResult, name: str, call: Callable[[], T]) -> T | None:
    """Run one part; an exception is recorded under its name and the section goes on."""
    start = time.perf_counter()
    try:
        return call()
    except Exception as exc:
        result.errors[name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
        return None
    finally:
        result.phases_s[name] = time.perf_counter() - start


def _presets(result: ProcessingResult) -> None:
    for image in result.images:
        timing = presets.measure(image, result.config.preset_runs)
        result.timings.append(timing)
        slowest = max(timing.render_median, timing.analyze_median or 0.0)
        result.checks.add(
            f"{image.key}: all presets within the seed floor",
            timing.within_floor,
            f"{slowest:,.0f} ms < {image.floor_ms:,.0f} ms"
            if timing.within_floor
            else f"{slowest:,.0f} ms ≥ {image.floor_ms:,.0f} ms",
        )


def _throughput(result: ProcessingResult, workdir: Path, progress: Callable[[str], None]) -> None:
    config = result.config
    named = presets.preset_specs()
    single = [(name, spec) for name, spec in named if name == SINGLE]
    expected = {t.image.key: t.outputs for t in result.timings}
    images = result.images
    progress("installing thumbor when missing (scripts/thumbor-venv.sh)")
    install = result.thumbor_install = thumbor.ensure_installed()
    sets = (
        ("all", ThroughputSet([n for n, _ in named], config.rounds), named),
        ("single", ThroughputSet([SINGLE], config.single_rounds), single),
    )
    for kind, tset, specs_named in sets:
        if kind == "all":
            result.all_presets = tset
        else:
            result.single = tset
        specs = [spec for _, spec in specs_named]
        progress(f"throughput ({kind}): imghost render_file")
        tset.rows.append(throughput.measure_imghost(images, specs, tset.rounds, config.workers))
        if kind == "all":
            progress(f"throughput ({kind}): imghost analyze")
            tset.rows.append(
                throughput.measure_imghost(
                    images, specs, tset.rounds, config.workers, use_analyze=True
                )
            )
        if install.error:
            continue
        progress(f"throughput ({kind}): thumbor")
        tset.rows.append(
            throughput.thumbor_run(
                install,
                workdir / f"thumbor-{kind}",
                images,
                specs_named,
                tset.rounds,
                processes=config.workers,
                concurrency=config.thumbor_concurrency,
                checks=result.checks if kind == "all" else None,
                expected=expected,
            )
        )


def run(config: ProcessingConfig, progress: Callable[[str], None]) -> ProcessingResult:
    result = ProcessingResult(config)
    with tempfile.TemporaryDirectory(prefix="imghost-bench-processing-") as tmp:
        workdir = Path(tmp)
        images_dir = workdir / "images"
        images_dir.mkdir()
        for sub in ("thumbor-all", "thumbor-single"):
            (workdir / sub).mkdir()
        progress("preparing images")
        result.images = _part(result, "images", lambda: sources.prepare(images_dir)) or []
        if not result.images:
            return result
        progress("part 1: all presets per image")
        _part(result, "presets", lambda: _presets(result))
        progress("part 2: on-demand transforms (starting imghost)")
        chosen = [img for img in result.images if img.key in TRANSFORM_IMAGES]
        result.transform = _part(
            result,
            "transforms",
            lambda: transforms.measure(chosen, config.transform_sizes, config.workers),
        )
        _part(result, "latency", lambda: _latency(result, progress))
        _part(result, "throughput", lambda: _throughput(result, workdir, progress))
    return result


def _latency(result: ProcessingResult, progress: Callable[[str], None]) -> None:
    for backend in result.config.latency_backends:
        progress(f"part 4: upload → thumbnail → ready ({backend})")
        item = processing_latency.measure(backend, result.config.latency_runs)
        result.latency.append(item)
        uploads = [u for us in item.single.values() for u in us] + item.burst
        result.checks.add(
            f"latency, {backend}: every upload processed and ready",
            item.error is None and all(u.outcome == "ready" for u in uploads),
            item.error.splitlines()[0]
            if item.error
            else f"{len(uploads)} uploads, outcomes {sorted({u.outcome for u in uploads})}",
        )
