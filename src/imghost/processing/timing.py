"""Where an image's processing time goes: one log line per image.

The job times its own steps (download, scan, storing) and adds those the
pixel passes timed in their process (decode, each preset, metadata, the
GPS-free copy). It marks the moments a client notices, counted from the
upload (the image row's creation; from the job's start for a repair):
when the job started (the wait for a worker), when the thumbnail was
stored, and the final state. ``bench/processing.py`` reads the line back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator

from imghost.db import utcnow

#: How the line begins; the benchmark finds the lines by it.
PREFIX = "image processing"


class StepClock:
    def __init__(self, uploaded_at: dt.datetime | None) -> None:
        # Offsets from the upload are wall-clock differences (the upload
        # happened in another process); steps are timed by the monotonic clock.
        self.origin = uploaded_at or utcnow()
        self.since = "its upload" if uploaded_at is not None else "the job's start"
        self.steps: dict[str, float] = {}
        self.moments: dict[str, float] = {}
        self.mark("job")

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add({name: time.perf_counter() - started})

    def add(self, timings: dict[str, float]) -> None:
        for name, seconds in timings.items():
            self.steps[name] = self.steps.get(name, 0.0) + seconds

    def mark(self, moment: str) -> None:
        self.moments[moment] = (utcnow() - self.origin).total_seconds()

    def line(self, image_id: str) -> str:
        """``image processing img_…: ms after its upload: job 12, thumbnail 301,
        ready 912; steps in ms: download 4, scan 12, decode 310, …``"""
        moments = ", ".join(f"{name} {seconds * 1e3:.0f}" for name, seconds in self.moments.items())
        steps = ", ".join(f"{name} {seconds * 1e3:.0f}" for name, seconds in self.steps.items())
        return f"{PREFIX} {image_id}: ms after {self.since}: {moments}; steps in ms: {steps}"
