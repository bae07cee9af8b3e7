"""A TCP proxy that cuts one connection after N bytes: a network break on cue.

Tests put it between a client and the service to check that uploads resume
after a dropped connection. It relays raw bytes both ways, so HTTP passes
through unchanged.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from imghost.testing.servers import free_port


class CuttingProxy:
    def __init__(self, target_port: int, cut_after: int | None) -> None:
        self.port = free_port()
        self.target_port = target_port
        #: Client→server bytes after which the connection carrying them is cut (once).
        self.cut_after = cut_after
        self.upstream_bytes = 0
        self.cuts = 0
        #: Everything clients sent after the cut, to see how they resumed.
        self.after_cut = bytearray()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while data := src.recv(65536):
                if upstream and self._should_cut(data):
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _should_cut(self, data: bytes) -> bool:
        with self._lock:
            if self.cuts:
                self.after_cut += data[:4096]
            self.upstream_bytes += len(data)
            if (
                self.cut_after is not None
                and not self.cuts
                and self.upstream_bytes > self.cut_after
            ):
                self.cuts += 1
                return True
            return False
