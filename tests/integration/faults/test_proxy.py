"""The fault proxy itself: it forwards, refuses, blackholes and recovers as the fault tests assume."""

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.proxy import TcpProxy


@pytest.fixture
def echo() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer(connection: socket.socket) -> None:
        with connection:
            for data in iter(lambda: connection.recv(1024), b""):
                connection.sendall(data)

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def ask(port: int, timeout: float = 1.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(b"ping")
        return connection.recv(4)


def test_the_proxy_forwards_refuses_blackholes_and_recovers(echo: int) -> None:
    proxy = TcpProxy("127.0.0.1", echo)
    try:
        assert ask(proxy.port) == b"ping"
        with proxy.fault("refuse"), pytest.raises(ConnectionRefusedError):
            ask(proxy.port)
        assert ask(proxy.port) == b"ping"
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=0.5) as open_before:
            open_before.sendall(b"ping")
            assert open_before.recv(4) == b"ping"  # linked through before the fault
            with proxy.fault("blackhole"):
                with pytest.raises(TimeoutError):  # accepted, then silence
                    ask(proxy.port, timeout=0.5)
                open_before.sendall(b"ping")
                with pytest.raises(TimeoutError):  # an open connection goes silent too
                    open_before.recv(4)
            assert open_before.recv(4) == b"ping"  # held, not lost, as a healed partition delivers it
        assert ask(proxy.port) == b"ping"
    finally:
        proxy.close()
