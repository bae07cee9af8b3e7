"""Peak memory and CPU time of a set of processes, sampled in a background thread.

RSS counts pages shared between forked processes once per process, so the sum
over a process tree overstates what the tree really holds; PSS (each shared
page divided among its sharers) does not. Both sums are recorded; RSS is the
usual headline figure.

CPU time (user + system, all threads) is summed over the same processes from
the first to the last sample: it is far less sensitive than wall-clock time to
whatever else runs on the machine.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psutil

INTERVAL_S = 0.05


@dataclass
class Usage:
    """Peak memory and CPU time of the watched processes."""

    rss_bytes: int = 0  # highest sum of RSS seen at one instant
    start_rss_bytes: int = 0  # the sum of RSS at the first sample
    end_rss_bytes: int = 0  # the sum of RSS at the last sample
    pss_bytes: int = 0  # highest sum of PSS seen at one instant (0 when unreadable)
    processes: int = 0  # how many processes the peak RSS sample covered
    samples: int = 0
    cpu_s: float = 0.0  # CPU time the processes used while watched

    def as_json(self) -> dict[str, object]:
        return {
            "peak_rss_mb": round(self.rss_bytes / 2**20, 1),
            "start_rss_mb": round(self.start_rss_bytes / 2**20, 1),
            "end_rss_mb": round(self.end_rss_bytes / 2**20, 1),
            "peak_pss_mb": round(self.pss_bytes / 2**20, 1) if self.pss_bytes else None,
            "processes": self.processes,
            "samples": self.samples,
            "cpu_s": round(self.cpu_s, 3),
        }


@dataclass
class _Sampler:
    pids: Callable[[], list[int]]
    peak: Usage = field(default_factory=Usage)
    stop: threading.Event = field(default_factory=threading.Event)
    _procs: dict[int, psutil.Process] = field(default_factory=dict)
    _cpu_first: dict[int, float] = field(default_factory=dict)
    _cpu_last: dict[int, float] = field(default_factory=dict)

    def _process(self, pid: int) -> psutil.Process:
        proc = self._procs.get(pid)
        if proc is None:
            proc = self._procs[pid] = psutil.Process(pid)
        return proc

    def sample(self) -> None:
        rss = pss = count = 0
        for pid in self.pids():
            try:
                proc = self._process(pid)
                times = proc.cpu_times()
                self._cpu_last[pid] = times.user + times.system
                self._cpu_first.setdefault(pid, self._cpu_last[pid])
                rss += proc.memory_info().rss
                with contextlib.suppress(psutil.AccessDenied, AttributeError):
                    pss += proc.memory_full_info().pss
                count += 1
            except psutil.Error:  # exited between listing and reading
                self._procs.pop(pid, None)
        self.peak.samples += 1
        if self.peak.samples == 1:
            self.peak.start_rss_bytes = rss
        self.peak.end_rss_bytes = rss
        if rss > self.peak.rss_bytes:
            self.peak.rss_bytes, self.peak.processes = rss, count
        self.peak.pss_bytes = max(self.peak.pss_bytes, pss)
        self.peak.cpu_s = sum(self._cpu_last[p] - self._cpu_first[p] for p in self._cpu_last)

    def loop(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(INTERVAL_S)


def tree(root_pid: int) -> Callable[[], list[int]]:
    """``root_pid`` and all its descendants, listed afresh at each sample."""

    def pids() -> list[int]:
        try:
            root = psutil.Process(root_pid)
            return [root_pid, *(p.pid for p in root.children(recursive=True))]
        except psutil.Error:
            return []

    return pids


@contextlib.contextmanager
def watching(pids: Callable[[], list[int]]) -> Iterator[Usage]:
    """Sample the memory of ``pids()`` until the block ends; the peak is filled in then."""
    sampler = _Sampler(pids)
    sampler.sample()
    thread = threading.Thread(target=sampler.loop, name="rss-sampler", daemon=True)
    thread.start()
    try:
        yield sampler.peak
    finally:
        sampler.stop.set()
        thread.join()
        sampler.sample()
