"""Pool processes die with their parent, even when it is killed with SIGKILL.

A process started from the fork server is the fork server's child. The fork
server exits by itself when the process that started it dies (it watches a
pipe whose only writer is that process), and Linux then kills each pool
process through ``PR_SET_PDEATHSIG``. Without it they stayed behind after a
``kill -9`` of the server, holding hundreds of MB each.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl in this libc: best effort
        return
    # The parent may have died before the request took effect: we are then
    # a child of init (or of a subreaper) and must go now.
    if os.getppid() == 1:
        os._exit(0)
