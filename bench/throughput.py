"""Part 3: how many images per second each side turns into derivatives on N cores.

imghost: the worker's own process pool (`imghost.processing.pool.PixelPool`, N
forkserver processes) runs one job per image: ``render_file`` with every
requested spec (decode once, render all), or the full ``analyze`` job.

thumbor: ``thumbor --processes N`` gets one HTTP request per output (decoding
the source each time: that is how it works), from an async client keeping
``concurrency`` requests in flight on fresh connections, so a busy process
never holds a queued request while the other one idles.

Both sides get the same jobs in the same order: every image ``rounds`` times,
largest first, so the run does not end with one core idle on a big image.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from PIL import Image

from bench import rss, thumbor
from bench.checks import Checks
from bench.presets import Output, load_analyze, max_pixels
from bench.sources import SourceImage
from imghost.imaging.render import RenderSpec, render_file
from imghost.processing.pool import PixelPool
from imghost.processing.variants import PREGENERATED
from imghost.settings import Settings

JOB_LIMIT_S = 300.0
PIL_FORMAT = {"jpeg": "JPEG", "webp": "WEBP", "png": "PNG"}


@dataclass
class Throughput:
    side: str  # "imghost render_file", "imghost analyze", "thumbor"
    detail: str
    images: int = 0  # source images turned into every requested output
    outputs: int = 0
    seconds: float = 0.0
    usage: rss.Usage = field(default_factory=rss.Usage)
    errors: int = 0
    error: str | None = None  # why it could not be measured

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0

    @property
    def outputs_per_s(self) -> float:
        return self.outputs / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_image(self) -> float:
        return self.usage.cpu_s * 1e3 / self.images if self.images else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "detail": self.detail,
            "error": self.error,
            "images": self.images,
            "outputs": self.outputs,
            "seconds": round(self.seconds, 3),
            "images_per_s": round(self.images_per_s, 3),
            "outputs_per_s": round(self.outputs_per_s, 3),
            "cpu_ms_per_image": round(self.cpu_ms_per_image, 1),
            "failed_requests": self.errors,
            "usage": self.usage.as_json(),
        }


def job_order(images: Sequence[SourceImage], rounds: int) -> list[SourceImage]:
    """Every image ``rounds`` times, largest first (same order for both sides)."""
    return sorted([img for _ in range(rounds) for img in images], key=lambda i: -i.megapixels)


# -- imghost -----------------------------------------------------------------


def _pool_pids(pool: PixelPool) -> Callable[[], list[int]]:
    """The pool's processes and the forkserver they are forked from."""

    def pids() -> list[int]:
        workers = [pid for pid in pool.pids() if pid]
        parents: set[int] = set()
        for pid in workers:
            with contextlib.suppress(psutil.Error):
                parents.add(psutil.Process(pid).ppid())
        parents.discard(psutil.Process().pid)  # not a forkserver: this process
        return [*parents, *workers]

    return pids


async def _imghost(
    images: Sequence[SourceImage],
    specs: list[RenderSpec],
    rounds: int,
    workers: int,
    use_analyze: bool,
    result: Throughput,
) -> None:
    pool = PixelPool(workers, Settings().job_memory_limit)
    limit = max_pixels()
    analyze, _ = load_analyze()
    presets = list(PREGENERATED)

    def job(image: SourceImage) -> Any:
        if use_analyze and analyze is not None:
            return pool.run(JOB_LIMIT_S, analyze, str(image.path), image.format, limit, presets)
        return pool.run(JOB_LIMIT_S, render_file, image.path, specs, limit)

    try:
        # Warm-up: start the pool's processes and run every decoder once.
        await asyncio.gather(*(job(image) for image in images))
        with rss.watching(_pool_pids(pool)) as peak:
            start = time.perf_counter()
            await asyncio.gather(*(job(image) for image in job_order(images, rounds)))
            result.seconds = time.perf_counter() - start
        result.usage = peak
        result.images = rounds * len(images)
        result.outputs = result.images * len(specs)
    finally:
        pool.close()
        for image in images:  # analyze leaves a GPS-scrubbed copy next to its input
            image.path.with_name(image.path.name + ".public").unlink(missing_ok=True)


def measure_imghost(
    images: Sequence[SourceImage],
    specs: list[RenderSpec],
    rounds: int,
    workers: int,
    *,
    use_analyze: bool = False,
) -> Throughput:
    if use_analyze:
        side = "imghost analyze"
        detail = f"worker job: scan + metadata + {len(specs)} renders, {workers} pool processes"
    else:
        side = "imghost render_file"
        detail = f"1 decode + {len(specs)} renders per job, {workers} pool processes"
    result = Throughput(side, detail)
    if use_analyze:
        _, why = load_analyze()
        if why is not None:
            result.error = f"analyze unavailable ({why})"
            return result
    try:
        asyncio.run(_imghost(images, specs, rounds, workers, use_analyze, result))
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


# -- thumbor -----------------------------------------------------------------


async def _fetch_all(
    base_url: str, paths: Sequence[str], concurrency: int, keep: bool = False
) -> tuple[int, list[httpx.Response | BaseException]]:
    """GET every path with ``concurrency`` in flight; returns (failures, responses if kept)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    pending = iter(enumerate(paths))
    responses: list[httpx.Response | BaseException] = [httpx.HTTPError("not fetched")] * (
        len(paths) if keep else 0
    )
    failures = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        for index, path in pending:
            outcome: httpx.Response | BaseException
            try:
                outcome = await client.get(path)
                ok = outcome.status_code == 200 and bool(outcome.content)
            except httpx.HTTPError as exc:
                outcome, ok = exc, False
            failures += not ok
            if keep:
                responses[index] = outcome

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120.0) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return failures, responses


def _check_output(
    checks: Checks,
    image: SourceImage,
    name: str,
    spec: RenderSpec,
    response: httpx.Response | BaseException,
    expected: Output | None,
) -> None:
    label = f"thumbor {image.path.name} → {name}"
    if isinstance(response, BaseException):
        checks.add(label, False, f"request failed: {response!r}")
        return
    if response.status_code != 200:
        checks.add(label, False, f"HTTP {response.status_code}: {response.text[:200]}")
        return
    try:
        with Image.open(io.BytesIO(response.content)) as img:
            img.load()
            got_format, size = img.format, img.size
    except Exception as exc:
        checks.add(label, False, f"not an image Pillow can decode: {exc}")
        return
    if got_format != PIL_FORMAT[spec.format]:
        checks.add(label, False, f"{got_format}, expected {PIL_FORMAT[spec.format]}")
        return
    want = (expected.width, expected.height) if expected else None
    detail = f"{got_format} {size[0]}×{size[1]}, {len(response.content):,} B"
    if want is None or size == want:
        checks.add(label, True, f"{detail}; imghost {want[0]}×{want[1]}" if want else detail)
    elif expected and spec.fit == "cover" and size == (spec.width, spec.height):
        # imghost never upscales: a source smaller than the crop box gives a smaller crop.
        checks.add(
            label, True, f"{detail}; imghost {want[0]}×{want[1]} (thumbor upscales, imghost not)"
        )
    else:
        checks.add(label, False, f"{detail}; imghost made {want[0]}×{want[1]}")


def verify_thumbor(
    server: thumbor.Server,
    images: Sequence[SourceImage],
    named_specs: list[tuple[str, RenderSpec]],
    expected: dict[str, list[Output]],
    concurrency: int,
    checks: Checks,
) -> None:
    """One request per image and output, decoded with Pillow and compared with imghost's."""
    pairs = [(image, name, spec) for image in images for name, spec in named_specs]
    paths = [thumbor.url_path(spec, image.path.name) for image, _, spec in pairs]
    _, responses = asyncio.run(_fetch_all(server.base_url, paths, concurrency, keep=True))
    for (image, name, spec), response in zip(pairs, responses, strict=True):
        outputs = {o.name: o for o in expected.get(image.key, [])}
        _check_output(checks, image, name, spec, response, outputs.get(name))


def measure_thumbor(
    server: thumbor.Server,
    images: Sequence[SourceImage],
    specs: list[RenderSpec],
    rounds: int,
    concurrency: int,
) -> Throughput:
    result = Throughput(
        "thumbor",
        f"1 request (decode + render) per output, {server.processes} processes, "
        f"{concurrency} requests in flight",
    )
    paths = [
        thumbor.url_path(spec, image.path.name)
        for image in job_order(images, rounds)
        for spec in specs
    ]
    with rss.watching(rss.tree(server.proc.pid)) as peak:
        start = time.perf_counter()
        result.errors, _ = asyncio.run(_fetch_all(server.base_url, paths, concurrency))
        result.seconds = time.perf_counter() - start
    result.usage = peak
    result.images = rounds * len(images)
    result.outputs = len(paths) - result.errors
    if result.errors:
        result.error = f"{result.errors} of {len(paths)} requests failed:\n{server.log_tail(5)}"
    return result


def thumbor_run(
    install: thumbor.Install,
    workdir: Path,
    images: Sequence[SourceImage],
    named_specs: list[tuple[str, RenderSpec]],
    rounds: int,
    *,
    processes: int,
    concurrency: int,
    checks: Checks | None = None,
    expected: dict[str, list[Output]] | None = None,
) -> Throughput:
    """Start thumbor afresh, verify its outputs (when ``checks``), measure, stop it."""
    specs = [spec for _, spec in named_specs]
    by_format = {spec.format: spec.quality for spec in specs}
    try:
        with thumbor.running(
            install,
            images[0].path.parent,
            workdir,
            processes=processes,
            jpeg_quality=by_format.get("jpeg", 82),
            webp_quality=by_format.get("webp", 80),
        ) as server:
            if checks is not None:  # doubles as the warm-up
                verify_thumbor(server, images, named_specs, expected or {}, concurrency, checks)
            else:
                warm = [thumbor.url_path(specs[0], image.path.name) for image in images]
                asyncio.run(_fetch_all(server.base_url, warm * processes, concurrency))
            return measure_thumbor(server, images, specs, rounds, concurrency)
    except Exception as exc:
        failed = Throughput("thumbor", "not measured")
        failed.error = f"{type(exc).__name__}: {exc}"
        return failed
