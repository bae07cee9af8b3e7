"""Run wrk and parse its `--latency` report."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


class WrkError(RuntimeError):
    """wrk failed or printed something we cannot read."""


@dataclass(frozen=True)
class WrkConfig:
    threads: int = 2
    connections: int = 16
    duration: int = 10  # seconds
    warmup: int = 2  # seconds, run (and discarded) before the measured run

    def args(self, duration: int) -> list[str]:
        return [
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{duration}s",
            "--latency",
        ]

    def command(self, url: str) -> str:
        return f"wrk {' '.join(self.args(self.duration))} {url}"


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    transfer_bytes_per_s: float
    latency_ms: dict[str, float]  # "50", "75", "90", "99" → ms
    requests: int
    seconds: float
    non_2xx_3xx: int
    socket_errors: dict[str, int]  # connect, read, write, timeout

    @property
    def p50_ms(self) -> float:
        return self.latency_ms["50"]

    @property
    def p99_ms(self) -> float:
        return self.latency_ms["99"]

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())

    def as_json(self) -> dict[str, object]:
        return {
            "requests_per_s": self.requests_per_s,
            "transfer_mb_per_s": round(self.transfer_bytes_per_s / 1e6, 2),
            "latency_ms": self.latency_ms,
            "requests": self.requests,
            "seconds": self.seconds,
            "non_2xx_3xx": self.non_2xx_3xx,
            "socket_errors": self.socket_errors,
        }


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkError("wrk not found: run `make system-deps` (or apt-get install wrk)")
    return found


def wrk_version() -> str:
    proc = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True, check=False)
    return (proc.stdout or proc.stderr).splitlines()[0].split(" Copyright")[0].strip()


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if match is None:
        raise WrkError(f"unreadable wrk time {value!r}")
    return float(match[1]) * _TIME_UNITS[match[2]]


def _bytes(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(B|KB|MB|GB|TB)", value)
    if match is None:
        raise WrkError(f"unreadable wrk size {value!r}")
    return float(match[1]) * _SIZE_UNITS[match[2]]


def parse(output: str) -> WrkResult:
    """Read the figures out of wrk's text report (run with --latency)."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    transfer = re.search(r"^Transfer/sec:\s+(\S+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+\w+),", output, re.M)
    distribution = re.search(r"Latency Distribution\n((?:\s+\d+%\s+\S+\n)+)", output)
    if not (rps and transfer and total and distribution):
        raise WrkError(f"unexpected wrk output:\n{output}")
    latency = {
        pct: _ms(value) for pct, value in re.findall(r"^\s+(\d+)%\s+(\S+)$", distribution[1], re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    if sockets:
        socket_errors = dict(zip(socket_errors, map(int, sockets.groups()), strict=True))
    return WrkResult(
        requests_per_s=float(rps[1]),
        transfer_bytes_per_s=_bytes(transfer[1]),
        latency_ms=latency,
        requests=int(total[1]),
        seconds=_ms(total[2]) / 1e3,
        non_2xx_3xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=socket_errors,
    )


def run(
    url: str, config: WrkConfig, *, warm_up: bool = True, headers: Sequence[str] = ()
) -> WrkResult:
    """Warm up for ``config.warmup`` seconds (discarded), then measure.

    ``headers`` ("Name: value") are sent with every request (wrk -H).
    """
    binary = wrk_binary()
    extra = [arg for header in headers for arg in ("-H", header)]
    if warm_up and config.warmup > 0:
        subprocess.run(
            [binary, *config.args(config.warmup), *extra, url], capture_output=True, check=True
        )
    proc = subprocess.run(
        [binary, *config.args(config.duration), *extra, url],
        capture_output=True,
        text=True,
        check=False,
        timeout=config.duration + 60,
    )
    if proc.returncode != 0:
        raise WrkError(f"wrk exited with {proc.returncode}: {proc.stderr or proc.stdout}")
    return parse(proc.stdout)
