"""Part 2: latency of on-demand transforms, the first time (render + store) and after.

The real service runs on sqlite-local with its background worker on. Each
image is uploaded as public and waited for until the worker has processed it
(``GET /v1/images/{id}`` as the owner shows a status other than
``processing``). Then ``/images/{id}/t/w_<N>.webp`` is requested once for
each of ``sizes`` widths, all different (cold: rendered and stored), and then
each URL again (cached: read back from the blob store). Requests are
anonymous, one at a time. A cold transform is rendered from the smallest
stored preset that covers it (processing.render_source): the widths stay at
or below 1900 px, so every one here comes from a preset, never the original.

The service allows 20 new transform sizes per image and 60 per client per
minute (HTTP 429 beyond), so ``sizes`` stays at or below 20 and the total
below 60.

``python -m bench.transforms [sizes]`` runs this part alone and prints its
table (the ``processing`` section runs it between presets and throughput).
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from PIL import Image

from bench import backends, rss, service
from bench.checks import Checks
from bench.service import ServiceError, expect
from bench.sources import SourceImage
from bench.stats import Summary

PER_IMAGE_LIMIT = 20
PER_CLIENT_LIMIT = 60
PROCESSING_TIMEOUT_S = 180.0
MIME = {"jpeg": "image/jpeg", "heic": "image/heic", "png": "image/png", "gif": "image/gif"}


@dataclass
class ImageLatency:
    image: SourceImage
    image_id: str = ""
    status: str = ""
    ready_s: float = 0.0  # upload accepted → no longer processing
    widths: list[int] = field(default_factory=list)
    cold_ms: list[float] = field(default_factory=list)
    # CPU time the service's process tree spent on each cold request: far less
    # sensitive than wall-clock time to what else runs on the machine.
    cold_cpu_ms: list[float] = field(default_factory=list)
    cached_ms: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "image_id": self.image_id,
            "status": self.status,
            "upload_to_processed_s": round(self.ready_s, 2),
            "widths": self.widths,
            "cold": Summary.of(self.cold_ms).as_json() if self.cold_ms else None,
            "cached": Summary.of(self.cached_ms).as_json() if self.cached_ms else None,
            "cold_cpu": Summary.of(self.cold_cpu_ms).as_json() if self.cold_cpu_ms else None,
            "cold_samples_ms": [round(v, 2) for v in self.cold_ms],
            "cold_cpu_samples_ms": [round(v, 2) for v in self.cold_cpu_ms],
            "cached_samples_ms": [round(v, 2) for v in self.cached_ms],
        }


@dataclass
class TransformResult:
    workers: int
    images: list[ImageLatency] = field(default_factory=list)
    checks: Checks = field(default_factory=Checks)
    usage: rss.Usage | None = None  # the service's process tree while measured
    error: str | None = None
    traceback: str | None = None
    log_tail: str | None = None

    def all_ms(self, which: str) -> list[float]:
        return [v for item in self.images for v in getattr(item, f"{which}_ms")]

    def as_json(self) -> dict[str, object]:
        cold, cached = self.all_ms("cold"), self.all_ms("cached")
        return {
            "backend": "sqlite-local",
            "imghost_workers": self.workers,
            "service_process_tree": self.usage.as_json() if self.usage else None,
            "error": self.error,
            "traceback": self.traceback,
            "imghost_log_tail": self.log_tail,
            "all_images": {
                "cold": Summary.of(cold).as_json() if cold else None,
                "cached": Summary.of(cached).as_json() if cached else None,
            },
            "images": {item.image.key: item.as_json() for item in self.images},
            "checks": self.checks.as_json(),
        }


def widths_for(index: int, sizes: int, source_width: int) -> list[int]:
    """``sizes`` different widths from 200 px up, all below the source's (no upscaling)."""
    low = 200 + 7 * index  # a different set per image
    step = max((min(1900, source_width) - low) // max(sizes - 1, 1), 1)
    return [low + step * i for i in range(sizes)]


def _upload(client: httpx.Client, image: SourceImage) -> str:
    response = client.post(
        "/v1/images",
        files={"file": (image.path.name, image.path.read_bytes(), MIME[image.format])},
        data={"visibility": "public"},
    )
    image_id: str = expect(response, 201, f"upload {image.path.name}").json()["imageId"]
    return image_id


def _wait_processed(client: httpx.Client, image_id: str) -> str:
    deadline = time.monotonic() + PROCESSING_TIMEOUT_S
    while time.monotonic() < deadline:
        status: str = expect(client.get(f"/v1/images/{image_id}"), 200, "image").json()["status"]
        if status != "processing":
            return status
        time.sleep(0.05)
    raise ServiceError(f"{image_id} still processing after {PROCESSING_TIMEOUT_S:.0f}s")


def _get(client: httpx.Client, url: str) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = client.get(url)
    return (time.perf_counter() - start) * 1e3, response


def tree_cpu_s(root_pid: int) -> float:
    """CPU seconds used so far by ``root_pid`` and its descendants, including
    exited children their parents reaped (the pixel pool's one-call processes
    end in their forkserver's children times)."""
    total = 0.0
    for pid in rss.tree(root_pid)():
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def _get_cold(
    client: httpx.Client, url: str, service_pid: int
) -> tuple[float, float, httpx.Response]:
    """(wall ms, service CPU ms, response) of one request."""
    before = tree_cpu_s(service_pid)
    ms, response = _get(client, url)
    return ms, (tree_cpu_s(service_pid) - before) * 1e3, response


def _check_cold(checks: Checks, item: ImageLatency, responses: list[httpx.Response]) -> None:
    problems = []
    for width, response in zip(item.widths, responses, strict=True):
        if response.status_code != 200:
            problems.append(f"w_{width}: HTTP {response.status_code} {response.text[:120]}")
            continue
        if response.headers.get("content-type", "").split(";")[0] != "image/webp":
            problems.append(f"w_{width}: Content-Type {response.headers.get('content-type')}")
            continue
        with Image.open(io.BytesIO(response.content)) as img:
            if img.format != "WEBP" or img.width != width:
                problems.append(f"w_{width}: {img.format} {img.width}×{img.height}")
    checks.add(
        f"{item.image.key}: {len(item.widths)} cold transforms are WebP of the asked width",
        not problems,
        "; ".join(problems[:3]) or f"widths {item.widths[0]}…{item.widths[-1]} px",
    )


def _measure_image(
    owner: httpx.Client,
    anonymous: httpx.Client,
    image: SourceImage,
    index: int,
    sizes: int,
    checks: Checks,
    service_pid: int,
) -> ImageLatency:
    item = ImageLatency(image)
    item.image_id = _upload(owner, image)
    accepted = time.perf_counter()
    item.status = _wait_processed(owner, item.image_id)
    item.ready_s = time.perf_counter() - accepted
    if not checks.add(
        f"{image.key}: the worker processed the upload", item.status == "ready", item.status
    ):
        return item
    item.widths = widths_for(index, sizes, image.width)
    urls = [f"/images/{item.image_id}/t/w_{w}.webp" for w in item.widths]
    cold_runs = [_get_cold(anonymous, url, service_pid) for url in urls]
    cold = [(ms, response) for ms, _, response in cold_runs]
    cached = [_get(anonymous, url) for url in urls]
    item.cold_ms = [ms for ms, _ in cold]
    item.cold_cpu_ms = [cpu for _, cpu, _ in cold_runs]
    item.cached_ms = [ms for ms, _ in cached]
    _check_cold(checks, item, [r for _, r in cold])
    same = [
        c.content == h.content and h.status_code == 200
        for (_, c), (_, h) in zip(cold, cached, strict=True)
    ]
    checks.add(
        f"{image.key}: cached transforms return the same bytes",
        all(same),
        f"{sum(same)}/{len(same)} identical",
    )
    return item


def measure(images: list[SourceImage], sizes: int, workers: int) -> TransformResult:
    """Errors are recorded, never raised (Ctrl-C still is)."""
    if not 1 <= sizes <= PER_IMAGE_LIMIT or sizes * len(images) >= PER_CLIENT_LIMIT:
        raise ValueError(
            f"{sizes} sizes × {len(images)} images would hit the service's rate limits"
        )
    result = TransformResult(workers)
    svc: service.Service | None = None
    with tempfile.TemporaryDirectory(prefix="imghost-bench-transforms-") as tmp:
        workdir = Path(tmp)
        try:
            with (
                backends.opened("sqlite-local", workdir) as backend,
                service.running(
                    database_url=backend.database_url,
                    storage_url=backend.storage_url,
                    workdir=workdir,
                    workers=workers,
                    run_worker=True,
                ) as svc,
                httpx.Client(base_url=svc.base_url, timeout=120.0) as owner,
                httpx.Client(base_url=svc.base_url, timeout=120.0) as anonymous,
            ):
                owner.headers["Authorization"] = f"Bearer {service.sign_in(owner)}"
                with rss.watching(rss.tree(svc.proc.pid)) as usage:
                    for index, image in enumerate(images):
                        result.images.append(
                            _measure_image(
                                owner,
                                anonymous,
                                image,
                                index,
                                sizes,
                                result.checks,
                                svc.proc.pid,
                            )
                        )
                result.usage = usage
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.traceback = traceback.format_exc()
            if svc is not None:
                result.log_tail = svc.log_tail()
    return result


def main(argv: list[str]) -> int:
    """Part 2 alone, on the processing section's photos, with its table."""
    from rich.console import Console

    # Imported here: bench.processing imports this module (and under ``-m``
    # this one is __main__, so the module proper is used for the result).
    from bench import processing, processing_report, sources, transforms

    config = processing.ProcessingConfig()
    sizes = int(argv[0]) if argv else config.transform_sizes
    result = processing.ProcessingResult(config)
    with tempfile.TemporaryDirectory(prefix="imghost-bench-transform-images-") as tmp:
        chosen = [i for i in sources.prepare(Path(tmp)) if i.key in processing.TRANSFORM_IMAGES]
        result.transform = transforms.measure(chosen, sizes, config.workers)
    console = Console(width=150)
    table = processing_report.transforms_table(result)
    if table is not None:
        console.print(table)
    transform = result.transform
    for item in transform.images:
        if item.cold_cpu_ms:
            cpu = Summary.of(item.cold_cpu_ms)
            console.print(
                f"{item.image.key}: service CPU per cold transform p50 {cpu.p50:,.0f} ms, "
                f"p95 {cpu.p95:,.0f} ms"
            )
    if transform.error:
        console.print(f"transforms error: {transform.error}\n{transform.log_tail or ''}")
    for check in transform.checks.items:
        console.print(f"{'ok' if check.ok else 'FAILED'}: {check.name} ({check.detail})")
    return 0 if transform.error is None and transform.checks.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
