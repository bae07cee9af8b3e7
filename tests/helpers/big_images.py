"""Big generated images, made once per run and shared by the tests and xdist workers.

A 100 MP gradient PNG costs ~2 s of a core to make (resize, convert, encode),
and the memory, time-limit and SIGKILL tests each made theirs again, on both
backends. The bytes are the same every time (PNG encoding is deterministic):
the first test to need one writes it into the run's temporary directory, the
others read that file.
"""

from __future__ import annotations

import fcntl
import io
import os
from pathlib import Path

import pytest
from PIL import Image


def gradient_png(width: int, height: int, mode: str = "RGB") -> bytes:
    """A horizontal grey gradient as ``mode``: compresses to almost nothing and
    decodes to ``width * height`` pixels of ``mode``."""
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert(mode).save(
        buf, "PNG", compress_level=1
    )
    return buf.getvalue()


class BigImages:
    """Files of :func:`gradient_png` under ``root``, each made once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def gradient_png(self, width: int, height: int, mode: str = "RGB") -> Path:
        path = self.root / f"gradient-{width}x{height}-{mode}.png"
        if path.exists():
            return path
        # Another worker making the same file at the same moment: wait for it
        # (flock) rather than spend the same core-seconds again.
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                staged = path.with_suffix(f".{os.getpid()}.tmp")
                staged.write_bytes(gradient_png(width, height, mode))
                os.replace(staged, path)  # readers see the whole file or none
        return path


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this run sees: the parent of the
    workers' own base temp directories (the base temp itself without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
