"""A TCP proxy between stategate and a real server that can hold the stream.

Kill points are chosen by observing from outside, not by hooks in stategate:
the proxy forwards a chosen number of server-to-client bytes, then holds every
connection until told to resume, so a backup is frozen mid-stream at a
reproducible place (a seed picks the byte count). The test then kills the
backup, or stops the server, while nothing moves.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class HoldingProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream``; counts server-to-client bytes."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._budget: int | None = None
        self.forwarded = 0  # server-to-client bytes since the last hold_after()
        self.held = threading.Event()  # the budget is spent: everything is holding
        self._resume = threading.Event()
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def hold_after(self, nbytes: int | None) -> None:
        """Forward ``nbytes`` more server-to-client bytes, then hold (None: never hold)."""
        with self._lock:
            self._budget = nbytes
            self.forwarded = 0
            self.held.clear()
            self._resume.clear()

    def resume(self) -> None:
        """Forward again, without limit."""
        with self._lock:
            self._budget = None
        self._resume.set()

    def drop_connections(self) -> None:
        """Close every proxied connection (its client and server ends)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self.resume()
        self._listener.close()
        self.drop_connections()

    def __enter__(self) -> HoldingProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=30)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        try:
            while data := src.recv(65536):
                if downstream:
                    self._send_counted(dst, data)
                else:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _send_counted(self, dst: socket.socket, data: bytes) -> None:
        while data:
            with self._lock:
                budget = self._budget
                allowed = len(data) if budget is None else max(0, budget - self.forwarded)
                now, data = data[:allowed], data[allowed:]
                self.forwarded += len(now)
            if now:
                dst.sendall(now)
            if data:
                self.held.set()
                self._resume.wait()
