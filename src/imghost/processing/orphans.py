"""Pool processes die with their parent, even when it is killed with SIGKILL.

A process started from the fork server is the fork server's child. The fork
server exits by itself when the process that started it dies: it watches the
read end of an "alive" pipe and exits at EOF, once no writer is left. Linux
then kills each pool process through ``PR_SET_PDEATHSIG``. Without it they
stayed behind after a ``kill -9`` of the server, holding hundreds of MB each.

The fork server hands a copy of that pipe's write end to every process it
starts (CPython keeps it as ``forkserver._forkserver._forkserver_alive_fd``,
for a child that would start processes of its own). A pool process busy with
a long call then kept the pipe open, so the fork server never saw EOF and
never exited, and the busy process never got its death signal: a cycle that
an idle process broke only by exiting at its own pipe's EOF. Busy processes
outlived the server by as long as their call ran (seen as four processes
left 10 s after a ``kill -9`` under load: the fork server, the resource
tracker and two decoding processes). A pool process starts no processes, so
it closes its copy: the server is then the pipe's only writer.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from multiprocessing import forkserver

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux only),
    and let go of the fork server's "alive" pipe so that the fork server (the
    parent) exits when the process that started it dies."""
    _release_forkserver_alive_pipe()
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl in this libc: best effort
        return
    # The parent may have died before the request took effect: we were then
    # handed to init or to a subreaper (not always pid 1) and must go now.
    if os.getppid() != parent:
        os._exit(0)


def _release_forkserver_alive_pipe() -> None:
    server = getattr(forkserver, "_forkserver", None)
    if server is None or server.get_inherited_fds() is None:
        # Not started by a fork server: in the process that started it, this
        # fd is the pipe's one legitimate writer.
        return
    fd = getattr(server, "_forkserver_alive_fd", None)
    if not isinstance(fd, int):
        return  # a Python that hands the children no copy
    with contextlib.suppress(OSError):
        os.close(fd)
    server._forkserver_alive_fd = None
