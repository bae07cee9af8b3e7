"""The process's log format and level (IMGHOST_LOG_LEVEL).

Set by every command, and by ``create_app`` too: with IMGHOST_WORKERS above 1,
uvicorn starts each API process afresh (spawn), where nothing else would set it,
and their lines (the in-process worker's, a request's error) would be lost.
``logging.basicConfig`` leaves a process whose root logger has handlers alone
(a test's capture, an embedding application's own set-up).
"""

from __future__ import annotations

import logging

from imghost.settings import Settings


def configure(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
