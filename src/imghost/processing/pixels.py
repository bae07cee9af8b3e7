"""The pixel work of the processing job, as plain functions a pool process can run.

Three calls: the scan (its verdict is recorded before anything else runs, so
a later failure cannot lose it); the first pass, the thumbnail presets
(stored and recorded before the rest is made: what listings and grids show
comes first); the second pass, metadata, the GPS-free copy and the other
presets. Each step's failure is reported by name.

The image is decoded once where decoding is what costs: the first pass of a
HEIC or PNG decodes for every preset and leaves the second the resampled
pixels in a file (``imaging.rawpixels``). A JPEG's decoder reduces as it
decodes (DCT scaling), so its first pass decodes at an eighth of the size for
the thumbnail alone, and the second decodes again for the rest.

Arguments and results are plain data (paths as strings, bytes, dataclasses),
so they cross the process boundary by pickle.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from imghost.imaging import rawpixels
from imghost.imaging.decode import decode_upright
from imghost.imaging.gps import has_gps, scrub_gps
from imghost.imaging.metadata import extract
from imghost.imaging.pdq import HASH_SIDE, PdqInput, hash_input
from imghost.imaging.probe import ProbeError
from imghost.imaging.render import Prepared, Rendered, RenderSpec, encode, prepare_file, render_file
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
    # Seconds per step: decode, each preset (resampling and its encodings),
    # metadata, gps_copy, handoff (the pixel file between the passes).
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FirstPass:
    """The thumbnail presets, made before the others."""

    renders: list[Render]
    # ("derivatives", code, detail): the image cannot be decoded, so the
    # second pass makes no preset either.
    failure: tuple[str, str, str] | None
    pdq_input: PdqInput | None  # when this pass decoded for every preset
    handoff: bool  # the other presets' pixels wait in the handoff file
    timings: dict[str, float]


#: The presets the first pass makes: the thumbnail, in every pre-generated format.
FIRST = ("thumb",)
# Formats whose decoder reduces while decoding: their first pass decodes for
# the thumbnail alone (a 12 MP JPEG at 1/8 scale in a few milliseconds).
_REDUCED_DECODE = ("jpeg",)

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
    """Both passes in one call, the way the job runs them (without storing
    in between): for benchmarks and tests. The thumbnail's renders come first."""
    handoff = f"{path}.pixels"
    try:
        first = first_pass(path, format_name, max_pixels, presets, handoff)
        left = handoff if first.handoff else None
        second = second_pass(path, format_name, max_pixels, presets, gps_copy, left, first.failure)
        return merge(first, second)
    finally:
        Path(handoff).unlink(missing_ok=True)


def merge(first: FirstPass, second: Analysis) -> Analysis:
    """The whole result of an image's two passes."""
    timings = {**second.timings}
    for step, seconds in first.timings.items():
        timings[step] = timings.get(step, 0.0) + seconds
    return Analysis(
        metadata=second.metadata,
        gps=second.gps,
        renders=first.renders + second.renders,
        width=second.width,
        height=second.height,
        scrubbed_path=second.scrubbed_path,
        scrubbed_sha256=second.scrubbed_sha256,
        scrubbed_size=second.scrubbed_size,
        failure=second.failure,
        pdq_input=first.pdq_input or second.pdq_input,
        timings=timings,
    )


def first_pass(
    path: str,
    format_name: str,
    max_pixels: int,
    presets: list[tuple[str, str]],
    handoff: str,
) -> FirstPass:
    """Render the `FIRST` presets of ``presets``. A format without reduced
    decoding is decoded here for every preset: the others' pixels are written
    to ``handoff`` for `second_pass`, with the PDQ hash's input returned."""
    source = Path(path)
    firsts = [p for p in presets if p[0] in FIRST]
    rest = [p for p in presets if p[0] not in FIRST]
    timings: dict[str, float] = {}
    failures: list[tuple[str, str, str]] = []
    hashed: list[PdqInput] = []
    once = format_name not in _REDUCED_DECODE and bool(rest)
    if not firsts and not once:
        return FirstPass([], None, None, False, timings)
    chosen = presets if once else firsts
    specs = [preset_render_spec(name, ext) for name, ext in chosen]
    # PDQ from the decode the presets are made from: the hash costs no decode
    # of its own (here, unless the second pass decodes again).
    inspect = (lambda img: hashed.append(hash_input(img))) if once or not rest else None
    prepared = _step(
        "derivatives", failures, lambda: prepare_file(source, specs, max_pixels, inspect)
    )
    if prepared is None:
        return FirstPass([], failures[0], None, False, timings)
    timings["decode"] = prepared.decode_seconds
    at = {p: i for i, p in enumerate(chosen)}
    renders = _step(
        "derivatives",
        failures,
        lambda: _encode_all(firsts, [at[p] for p in firsts], specs, prepared, timings),
    )
    if once:
        started = time.perf_counter()
        _step(
            "derivatives",
            failures,
            lambda: rawpixels.write(Path(handoff), [prepared.pixels[at[p]] for p in rest]),
        )
        timings["handoff"] = time.perf_counter() - started
        for name, ext in rest:  # their resampling happened here
            timings[name] = timings.get(name, 0.0) + prepared.seconds[at[name, ext]]
    return FirstPass(renders or [], None, hashed[0] if hashed else None, once, timings)


def second_pass(
    path: str,
    format_name: str,
    max_pixels: int,
    presets: list[tuple[str, str]],
    gps_copy: bool,
    handoff: str | None,
    first_failure: tuple[str, str, str] | None = None,
) -> Analysis:
    """Extract metadata, scrub GPS, render the presets `first_pass` did not
    (from its pixels in ``handoff`` when it left them there; none when it
    found the image undecodable: ``first_failure``). The GPS-free
    copy comes before the renders, so an image whose presets cannot be made
    is still served to others. ``gps_copy``: false when the owner opted in to
    sharing GPS (the original goes to everyone; a copy would never be served)."""
    source = Path(path)
    failures: list[tuple[str, str, str]] = []
    timings: dict[str, float] = {}
    rest = [p for p in presets if p[0] not in FIRST]
    handed: list[Image.Image] | None = None
    if rest and handoff is not None and first_failure is None:
        pixels_file = Path(handoff)
        handed = _timed(
            "handoff",
            timings,
            lambda: _step("derivatives", failures, lambda: rawpixels.read(pixels_file)),
        )
    # The placeholder from the smallest of those pixels: no decode of its own.
    smallest = min(handed, key=lambda img: img.width * img.height) if handed else None
    meta = _timed(
        "metadata",
        timings,
        lambda: _step("metadata", failures, lambda: extract(source, pixels=smallest)),
    )
    scrubbed = None
    if gps_copy:
        scrubbed = _timed(
            "gps_copy", timings, lambda: _step("gps_copy", failures, lambda: _scrub(source))
        )
    hashed: list[PdqInput] = []
    renders: list[Render] = []
    if first_failure is not None:
        failures.append(first_failure)  # undecodable: no preset can be made
    elif handed is not None:
        specs = [preset_render_spec(name, ext) for name, ext in rest]
        prepared = Prepared(handed, [0.0] * len(handed), 0.0)
        indices = list(range(len(rest)))
        renders = (
            _step(
                "derivatives",
                failures,
                lambda: _encode_all(rest, indices, specs, prepared, timings),
            )
            or []
        )
    elif rest and handoff is None:
        specs = [preset_render_spec(name, ext) for name, ext in rest]
        # PDQ from the decode the presets are made from: the hash costs no decode of its own.
        made = _step(
            "derivatives",
            failures,
            lambda: prepare_file(
                source, specs, max_pixels, lambda img: hashed.append(hash_input(img))
            ),
        )
        if made is not None:
            timings["decode"] = made.decode_seconds
            indices = list(range(len(rest)))
            renders = (
                _step(
                    "derivatives",
                    failures,
                    lambda: _encode_all(rest, indices, specs, made, timings),
                )
                or []
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
        timings=timings,
    )


def _encode_all(
    presets: list[tuple[str, str]],
    indices: list[int],
    specs: list[RenderSpec],
    prepared: Prepared,
    timings: dict[str, float],
) -> list[Render]:
    """Encode ``presets`` (their pixels at ``indices`` of ``prepared``),
    adding each one's resampling and encoding time to its preset's."""
    renders = []
    for (name, ext), i in zip(presets, indices, strict=True):
        started = time.perf_counter()
        r = encode(prepared.pixels[i], specs[i])
        spent = time.perf_counter() - started + prepared.seconds[i]
        timings[name] = timings.get(name, 0.0) + spent
        digest = hashlib.sha256(r.data).hexdigest()
        renders.append(Render(f"{name}.{ext}", r.data, r.width, r.height, digest))
    return renders


def _timed(step: str, timings: dict[str, float], fn: Callable[[], T]) -> T:
    started = time.perf_counter()
    try:
        return fn()
    finally:
        timings[step] = time.perf_counter() - started


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
