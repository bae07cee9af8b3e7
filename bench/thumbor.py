"""thumbor 7.x, the reference the processing throughput is compared with.

It is installed from PyPI into its own virtualenv outside the repository by
``scripts/thumbor-venv.sh``, every package pinned in ``scripts/thumbor-requirements.txt``
(thumbor 7.8.0 on Pillow 12), and served as ``thumbor -c CONF --processes N``
from a file loader rooted at the benchmark's image directory, with no storage
and no result storage, so every request decodes and renders afresh.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.machine import REPO
from bench.service import stop_group
from imghost.imaging.render import RenderSpec
from imghost.testing.servers import free_port

SCRIPT = REPO / "scripts" / "thumbor-venv.sh"
INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 60.0
FORMAT_FILTER = {"jpeg": "jpeg", "webp": "webp", "png": "png"}


class ThumborError(RuntimeError):
    """thumbor could not be installed or started."""


@dataclass(frozen=True)
class Install:
    venv: Path | None
    versions: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # why thumbor is unavailable, in one line
    log: str | None = None  # the end of the installer's output when it failed

    def as_json(self) -> dict[str, object]:
        return {
            "venv": str(self.venv) if self.venv else None,
            **self.versions,
            "error": self.error,
            "install_log": self.log,
        }


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def ensure_installed() -> Install:
    """Create the venv from the pinned set when missing or out of date; never raises."""
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT)],
            capture_output=True,
            text=True,
            check=False,
            timeout=INSTALL_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Install(None, error=f"{SCRIPT.name} failed: {exc}")
    if proc.returncode != 0 or not proc.stdout.strip():
        return Install(
            None,
            error=f"{SCRIPT.name} exited {proc.returncode}: {_tail(proc.stderr, 1) or 'no output'}",
            log=_tail(proc.stderr, 20),
        )
    venv = Path(proc.stdout.strip().splitlines()[-1])
    probe = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import thumbor, PIL, pillow_heif; from PIL import features; "
            "print(thumbor.__version__, PIL.__version__, pillow_heif.__version__, "
            "features.version('libjpeg_turbo'), features.version('webp'), "
            "pillow_heif.libheif_version())",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if probe.returncode != 0:
        return Install(
            venv, error=f"thumbor does not import: {_tail(probe.stderr, 1)}", log=probe.stderr
        )
    names = ("thumbor", "pillow", "pillow_heif", "libjpeg_turbo", "libwebp", "libheif")
    return Install(venv, dict(zip(names, probe.stdout.split(), strict=False)))


def config_text(root: Path, jpeg_quality: int, webp_quality: int) -> str:
    settings: dict[str, object] = {
        "LOADER": "thumbor.loaders.file_loader",
        "FILE_LOADER_ROOT_PATH": str(root),
        "ALLOW_UNSAFE_URL": True,
        "STORAGE": "thumbor.storages.no_storage",
        "RESULT_STORAGE": None,
        "RESPECT_ORIENTATION": True,
        "QUALITY": jpeg_quality,
        "WEBP_QUALITY": webp_quality,
        "MAX_AGE": 0,
        # imghost renders the first frame of an animation; so does thumbor with this.
        "ALLOW_ANIMATED_GIFS": False,
        # With the default (False) thumbor skips post-transform filters, format()
        # among them, for GIF sources and answers GIF; None lets format() apply.
        "USE_GIFSICLE_ENGINE": None,
    }
    return "".join(f"{key} = {value!r}\n" for key, value in settings.items())


def url_path(spec: RenderSpec, filename: str) -> str:
    """thumbor's URL for ``spec``: a plain WxH is a centre crop, fit-in/WxH fits inside."""
    if spec.width is None or spec.height is None or spec.fit not in ("cover", "inside"):
        raise ValueError(f"no thumbor equivalent for {spec}")
    box = f"{spec.width}x{spec.height}"
    if spec.fit == "inside":
        box = f"fit-in/{box}"
    return f"/unsafe/{box}/filters:format({FORMAT_FILTER[spec.format]})/{filename}"


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    processes: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), lines)
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the whole process group: the tornado supervisor and its forked children."""
        stop_group(self.proc, 10.0)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise ThumborError(
                f"thumbor exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            if httpx.get(f"{server.base_url}/healthcheck", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise ThumborError(f"thumbor did not answer within {START_TIMEOUT:.0f}s:\n{server.log_tail()}")


@contextlib.contextmanager
def running(
    install: Install,
    root: Path,
    workdir: Path,
    *,
    processes: int,
    jpeg_quality: int,
    webp_quality: int,
) -> Iterator[Server]:
    """Serve ``root`` with thumbor on a free port; everything is stopped on exit."""
    if install.venv is None:
        raise ThumborError(install.error or "thumbor is not installed")
    conf = workdir / "thumbor.conf"
    conf.write_text(config_text(root, jpeg_quality, webp_quality))
    port = free_port()
    log_path = workdir / "thumbor.log"
    command = [
        str(install.venv / "bin" / "thumbor"),
        *("-c", str(conf), "-i", "127.0.0.1", "-p", str(port)),
        *("--processes", str(processes), "-l", "warning"),
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one killpg stops the supervisor and its children
        )
    server = Server(proc, port, processes, log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        server.stop()
