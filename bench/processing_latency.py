"""Part 4: how soon an upload shows. Upload → thumbnail stored → ready.

Two set-ups of the real service. ``sqlite-local``: the embedded default, one
`imghost serve` process with its in-process worker. ``postgres-s3``: two API
processes without workers and one `imghost worker` (jobs reach it by
PostgreSQL's NOTIFY). Each logs at INFO. First single uploads, one at a time,
``runs`` of each: a 12 MP JPEG (the corpus's iPhone photo saved as a JPEG,
EXIF kept, as a phone set to "most compatible" stores it) and the 12 MP
iPhone HEIC itself. Then a burst: six phone photos (three HEIC, three JPEG)
uploaded at once.

The times come from the worker's line per image (``processing.timing``):
the thumbnail's commit and the final one, counted from the image's creation
in the upload's transaction (a few ms before its 201), and each step's time.
The client also times its 201 to that line's appearance (``seen``: the line
is written after the final commit; read every 2 ms).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import shutil
import statistics
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from bench import backends, service
from bench.service import ServiceError, expect
from bench.sources import corpus_dir
from imghost.processing.timing import PREFIX

WATCH_EVERY_S = 0.002
TIMEOUT_S = 120.0
MIME = {".jpg": "image/jpeg", ".heic": "image/heic"}
# Goals of issue 19 on a 2-core machine, in seconds.
GOAL_THUMB_S = 0.5  # 12 MP JPEG, p50
GOAL_READY_S = 1.5  # 12 MP JPEG, p50
GOAL_HEIC_READY_S = 1.0  # 12 MP HEIC: all presets
GOAL_BURST_S = 3.0  # six phone photos, the last one ready

SINGLE = (("12 MP JPEG", "iphone.jpg"), ("12 MP HEIC", "iphone.heic"))
BURST = ("iphone.heic", "img5195.heic", "pug.heic", "nokia.jpg", "iphone.jpg", "pug.jpg")
_LINE = re.compile(rf"{PREFIX} (\S+): ms after [^:]+: (.*?); steps in ms: (.*)$")


@dataclass
class Upload:
    label: str
    image_id: str = ""
    sent: float = 0.0  # perf_counter when the upload began
    acked: float = 0.0  # when its 201 arrived
    thumb_s: float | None = None  # from the upload to the thumbnail's commit (logged)
    ready_s: float | None = None  # from the upload to the final commit (logged)
    seen_s: float | None = None  # from the 201 to the line, as the client saw it
    outcome: str = ""
    moments_ms: dict[str, float] = field(default_factory=dict)  # the line's, from the upload
    steps_ms: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.label,
            "image_id": self.image_id,
            "thumbnail_s": _r(self.thumb_s),
            "ready_s": _r(self.ready_s),
            "line_seen_after_201_s": _r(self.seen_s),
            "outcome": self.outcome,
            "logged_moments_ms": self.moments_ms,
            "steps_ms": self.steps_ms,
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class LatencyResult:
    setup: str  # the backend and process layout
    runs: int
    single: dict[str, list[Upload]] = field(default_factory=dict)
    burst: list[Upload] = field(default_factory=list)
    error: str | None = None
    log_tail: str | None = None

    @property
    def burst_from_first_sent_s(self) -> float | None:
        """From the first upload's request to the last line seen."""
        seen = [u.acked + u.seen_s for u in self.burst if u.seen_s is not None]
        if not self.burst or len(seen) < len(self.burst):
            return None
        return max(seen) - min(u.sent for u in self.burst)

    @property
    def burst_from_last_ack_s(self) -> float | None:
        """From the last upload's 201 to the last line seen."""
        seen = [u.acked + u.seen_s for u in self.burst if u.seen_s is not None]
        if not self.burst or len(seen) < len(self.burst):
            return None
        return max(seen) - max(u.acked for u in self.burst)

    def p50(self, kind: str, which: str) -> float | None:
        values = [getattr(u, which) for u in self.single.get(kind, [])]
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    def step_medians(self, uploads: list[Upload]) -> dict[str, float]:
        names = dict.fromkeys(name for u in uploads for name in u.steps_ms)
        return {
            name: statistics.median(u.steps_ms.get(name, 0.0) for u in uploads) for name in names
        }

    def as_json(self) -> dict[str, object]:
        return {
            "setup": self.setup,
            "runs": self.runs,
            "single": {k: [u.as_json() for u in v] for k, v in self.single.items()},
            "single_p50_s": {
                k: {
                    "thumbnail": _r(self.p50(k, "thumb_s")),
                    "ready": _r(self.p50(k, "ready_s")),
                    "line_seen_after_201": _r(self.p50(k, "seen_s")),
                }
                for k in self.single
            },
            "single_step_medians_ms": {
                k: {n: round(v, 1) for n, v in self.step_medians(us).items()}
                for k, us in self.single.items()
            },
            "burst": [u.as_json() for u in self.burst],
            "burst_all_ready_from_first_upload_s": _r(self.burst_from_first_sent_s),
            "burst_all_ready_from_last_ack_s": _r(self.burst_from_last_ack_s),
            "goals_s": {
                "jpeg_12mp_thumbnail_p50": GOAL_THUMB_S,
                "jpeg_12mp_ready_p50": GOAL_READY_S,
                "heic_12mp_ready": GOAL_HEIC_READY_S,
                "burst_of_6_all_ready": GOAL_BURST_S,
            },
            "error": self.error,
            "imghost_log_tail": self.log_tail,
        }


def prepare(workdir: Path) -> Path:
    """The phone photos, under the names the parts use."""
    root = corpus_dir()
    files = workdir / "phone"
    files.mkdir()
    for source, name in (
        ("heic/iphone_13_pro_max.HEIC", "iphone.heic"),
        ("heic/IMG_5195.HEIC", "img5195.heic"),
        ("heic/pug.heic", "pug.heic"),
        ("exif/HMD_Nokia_8.3_5G.jpg", "nokia.jpg"),
    ):
        shutil.copyfile(root / source, files / name)
    from pillow_heif import register_heif_opener

    register_heif_opener()
    for heic, jpeg in (("iphone.heic", "iphone.jpg"), ("pug.heic", "pug.jpg")):
        with Image.open(files / heic) as img:
            extra = {k: img.info[k] for k in ("exif", "icc_profile") if img.info.get(k)}
            img.save(files / jpeg, "JPEG", quality=90, **extra)
    return files


class Watcher:
    """Reads the worker's lines from its log as they come."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = 0
        self.buffer = ""

    def wait(self, uploads: list[Upload]) -> None:
        deadline = time.perf_counter() + TIMEOUT_S
        pending = {u.image_id: u for u in uploads}
        while pending:
            now = time.perf_counter()
            for image_id, moments, steps in self._lines():
                upload = pending.pop(image_id, None)
                if upload is None:
                    continue
                upload.seen_s = now - upload.acked
                upload.moments_ms, upload.steps_ms = moments, steps
                upload.outcome = next(reversed(moments), "")
                upload.ready_s = moments.get(upload.outcome, 0.0) / 1e3
                if "thumbnail" in moments:
                    upload.thumb_s = moments["thumbnail"] / 1e3
            if now > deadline:
                raise ServiceError(f"{', '.join(pending)} not processed after {TIMEOUT_S:.0f}s")
            time.sleep(WATCH_EVERY_S)

    def _lines(self) -> list[tuple[str, dict[str, float], dict[str, float]]]:
        with open(self.log, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        self.buffer += data.decode(errors="replace")
        *complete, self.buffer = self.buffer.split("\n")
        found = []
        for line in complete:
            match = _LINE.search(line)
            if match:
                found.append((match[1], _pairs(match[2]), _pairs(match[3])))
        return found


def _pairs(text: str) -> dict[str, float]:
    pairs = (item.rsplit(" ", 1) for item in text.split(", ") if item)
    return {name: float(value) for name, value in pairs}


def _upload(client: httpx.Client, path: Path) -> tuple[str, str, float, float]:
    sent = time.perf_counter()
    response = client.post(
        "/v1/images",
        files={"file": (path.name, path.read_bytes(), MIME[path.suffix])},
        data={"visibility": "public", "allowDuplicate": "true"},
    )
    acked = time.perf_counter()
    body = expect(response, 201, f"upload {path.name}").json()
    return str(body["imageId"]), str(body["ownerId"]), sent, acked


def _measure(
    base_url: str, token: str, files: Path, names: list[str], watcher: Watcher
) -> list[Upload]:
    """Upload ``names`` at once (one connection each) and watch them."""

    def one(name: str) -> tuple[str, str, float, float]:
        with httpx.Client(base_url=base_url, timeout=120.0) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            return _upload(client, files / name)

    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(one, names))
    uploads = []
    for name, (image_id, _, sent, acked) in zip(names, results, strict=True):
        uploads.append(Upload(name, image_id, sent, acked))
    watcher.wait(uploads)
    return uploads


SETUPS = {
    "sqlite-local": "SQLite + local files: 1 `imghost serve` process, its in-process worker",
    "postgres-s3": "PostgreSQL + S3 (moto): 2 API processes without workers, 1 `imghost worker`",
}


def measure(backend_name: str, runs: int) -> LatencyResult:
    """Errors are recorded, never raised (Ctrl-C still is)."""
    result = LatencyResult(SETUPS[backend_name], runs)
    svc: service.Service | None = None
    separate = backend_name != "sqlite-local"
    with tempfile.TemporaryDirectory(prefix="imghost-bench-latency-") as tmp:
        workdir = Path(tmp)
        try:
            files = prepare(workdir)
            with contextlib.ExitStack() as stack:
                backend = stack.enter_context(backends.opened(backend_name, workdir))
                svc = stack.enter_context(
                    service.running(
                        database_url=backend.database_url,
                        storage_url=backend.storage_url,
                        workdir=workdir,
                        workers=2 if separate else 1,
                        run_worker=not separate,
                        settings={"IMGHOST_LOG_LEVEL": "INFO"},
                    )
                )
                log = svc.log_path
                if separate:
                    log = stack.enter_context(service.worker_running(svc, workdir)).log_path
                client = stack.enter_context(httpx.Client(base_url=svc.base_url, timeout=120.0))
                token = service.sign_in(client)
                watcher = Watcher(log)
                # Warm-up: pixel pools started, modules imported.
                for name in ("nokia.jpg", "iphone.heic"):
                    _measure(svc.base_url, token, files, [name] * 2, watcher)
                for kind, name in SINGLE:
                    result.single[kind] = []
                    for _ in range(runs):
                        result.single[kind] += _measure(svc.base_url, token, files, [name], watcher)
                result.burst = _measure(svc.base_url, token, files, list(BURST), watcher)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
            if svc is not None:
                result.log_tail = svc.log_tail()
    return result
