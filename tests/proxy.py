"""A TCP proxy a test puts between Flowplane's processes and a server, to make the faults production
sees: the server stops (connections refused and reset), blackholes (connections stay open, nothing
comes back: only timeouts help) or slows down. It runs on a thread of the test process; worker,
consumer and api subprocesses connect to its port like to the real server's."""

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Literal

Mode = Literal["forward", "blackhole", "refuse"]
_CHUNK = 65536


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "forward"
        self.delay = 0.0  # seconds each chunk waits before it is passed on (slow mode)
        self._lock = threading.Lock()
        self._links: set[tuple[socket.socket, socket.socket]] = set()
        self._ended: set[tuple[socket.socket, socket.socket]] = set()  # links one direction of which ended
        self._closed = False
        self._listener = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True, name="proxy-accept").start()

    # -- what a test does -----------------------------------------------------------------------
    def url(self, template: str) -> str:
        """``template`` with ``{port}`` filled in: ``proxy.url("redis://127.0.0.1:{port}/15")``."""
        return template.format(port=self.port)

    def forward(self) -> None:
        """Back to normal: new connections reach the server (existing blackholed ones stay dead)."""
        with self._lock:
            if self.mode == "refuse":
                self._listener = self._listen(self.port)
                threading.Thread(target=self._accept, args=(self._listener,), daemon=True,
                                 name="proxy-accept").start()
            self.mode, self.delay = "forward", 0.0

    def blackhole(self) -> None:
        """Open but silent: connections are accepted and kept, and nothing passes either way."""
        with self._lock:
            self.mode = "blackhole"

    def refuse(self) -> None:
        """The server is gone: new connections are refused and open ones are reset."""
        with self._lock:
            self.mode = "refuse"
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept(); close alone does not
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            links, self._links = self._links, set()
        for client, server in links:
            with contextlib.suppress(OSError):  # wakes both pipe threads, which then close the sockets
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)

    def slow(self, delay: float) -> None:
        with self._lock:
            self.mode, self.delay = "forward", delay

    def close(self) -> None:
        self.refuse()
        self._closed = True

    @contextlib.contextmanager
    def fault(self, mode: Mode) -> Iterator[None]:
        getattr(self, mode)()
        try:
            yield
        finally:
            self.forward()

    # -- the plumbing ---------------------------------------------------------------------------
    @staticmethod
    def _listen(port: int) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: refusing, or the test is over
            if self.mode == "blackhole":
                self._hold(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._links.add((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink, (client, server)), daemon=True,
                                 name="proxy-pipe").start()

    def _hold(self, client: socket.socket) -> None:
        """Read and drop whatever the client sends, answer nothing, until the fault is over."""

        def drain() -> None:
            with client:
                client.settimeout(0.2)
                while self.mode == "blackhole" and not self._closed:
                    try:
                        if not client.recv(_CHUNK):
                            return
                    except TimeoutError:
                        continue
                    except OSError:
                        return

        threading.Thread(target=drain, daemon=True, name="proxy-blackhole").start()

    def _pipe(self, source: socket.socket, sink: socket.socket, link: tuple[socket.socket, socket.socket]) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                if self.delay:
                    time.sleep(self.delay)
                while self.mode == "blackhole":  # held, as a partition holds it, until the fault ends
                    time.sleep(0.05)
                sink.sendall(data)
        except OSError:
            pass
        # Pass the end on (half-close), and close both sockets only once the other direction ended too:
        # closing a socket another thread is blocked on frees its number for reuse without waking it.
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with self._lock:
            if link in self._ended:
                self._ended.discard(link)
                self._links.discard(link)
                last = True
            else:
                self._ended.add(link)
                last = False
        if last:
            _close(link[0])
            _close(link[1])


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
