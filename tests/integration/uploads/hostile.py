"""Helpers of the hostile-upload tests: raw uploads that can be abandoned, and
waiting for processes to exit."""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Callable

from tests.factories import UserHandle


def start_upload(port: int, user: UserHandle, data: bytes, name: str = "a.gif") -> socket.socket:
    """Send a whole multipart upload and leave the answer unread (the caller
    abandons the request by closing the socket)."""
    boundary = "hostile-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        "POST /v1/images HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {user.headers['Authorization']}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head + body)
    return sock


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for a state of another thread or process that sends no event."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def wait_exited(pids: list[int], timeout: float) -> list[int]:
    """Wait (on pidfds: the kernel's exit event) until ``pids`` exit; return those still alive."""
    fds = {}
    for pid in pids:
        try:
            fds[os.pidfd_open(pid)] = pid
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    try:
        while fds and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(fds), [], [], left)
            for fd in ready:
                os.close(fd)
                del fds[fd]
        return sorted(fds.values())
    finally:
        for fd in fds:
            os.close(fd)
