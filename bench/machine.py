"""What the figures were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from bench import wrk
from imghost.testing.postgres import postgres_bin_dir
from imghost.testing.servers import nginx_binary

REPO = Path(__file__).resolve().parent.parent


def _first_line(command: list[str]) -> str:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return lines[0].strip() if lines else ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def git_commit() -> dict[str, object]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD") or "unknown",
        "tracked_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def _version(get: str) -> str:
    try:
        from importlib.metadata import version

        return version(get)
    except Exception:
        return "unknown"


def describe() -> dict[str, object]:
    try:
        postgres = _first_line([str(postgres_bin_dir() / "postgres"), "--version"])
    except Exception as exc:
        postgres = f"unavailable ({exc})"
    try:
        nginx = _first_line([nginx_binary(), "-v"])
    except Exception as exc:
        nginx = f"unavailable ({exc})"
    try:
        wrk_version = wrk.wrk_version()
    except Exception as exc:
        wrk_version = f"unavailable ({exc})"
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        # Anything else running skews the figures: look here when they look odd.
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": wrk_version,
        "nginx": nginx,
        "postgres": postgres,
        "packages": {
            name: _version(name)
            for name in ("imghost", "uvicorn", "fastapi", "sqlalchemy", "obstore", "moto")
        },
        "git": git_commit(),
    }
