"""Where the test servers are, and how a test asks for one: skip locally when it is down, fail in CI."""

import os
import socket
import uuid

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
