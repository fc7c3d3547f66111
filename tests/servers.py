"""Where the test servers are, and how a test asks for one: skip locally when it is down, fail in CI."""

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("FLOWPLANE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FLOWPLANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("FLOWPLANE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
_PORTS = {"postgresql": ("127.0.0.1", 5432), "redis": ("127.0.0.1", 6379), "rabbitmq": ("127.0.0.1", 5672)}

RUN_ID = uuid.uuid4().hex[:10]  # namespaces every schema, key and queue this test run creates


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str) -> None:
    if reachable(*_PORTS[service]):
        return
    message = f"{service} is not reachable at {_PORTS[service][0]}:{_PORTS[service][1]}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def closed_port() -> int:
    """A local TCP port with nothing listening on it: a stand-in for a stopped server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnRedis:
    """A private redis-server (append-only, fsync always) that a test may stop and restart."""

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = closed_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise AssertionError("private redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: redis flushes the append-only file and exits
            self.process.wait(timeout=10)
            self.process = None
