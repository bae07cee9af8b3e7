"""Run the real `imghost serve` command as a subprocess, as an operator would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from imghost.testing.servers import free_port, wait_for_port

BIN = Path(sys.executable).parent


class ServiceProcess:
    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.cwd = cwd
        self.env = {
            **os.environ,
            "IMGHOST_HOST": "127.0.0.1",
            "IMGHOST_PORT": str(self.port),
            "IMGHOST_SECRET_KEY": "e2e-secret-key-long-enough-for-production-use",
            **(env or {}),
        }
        self.log = cwd / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServiceProcess:
        # The server writes to its own copy of the descriptor; ours closes at once.
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "imghost"), "serve"],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for_port(self.port, 60, self.proc)
            deadline = time.monotonic() + 30
            while httpx.get(f"{self.url}/healthz").status_code != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError("service never became healthy")
                time.sleep(0.1)
        except Exception:
            self.__exit__()
            raise RuntimeError(f"imghost serve failed:\n{self.log.read_text()[-3000:]}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
