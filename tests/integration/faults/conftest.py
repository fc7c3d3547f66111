"""The production shape under faults: api, worker and consumers as real processes, each server
(PostgreSQL, Redis, RabbitMQ) reached through a proxy the test can stop, blackhole or slow, and a real
SMTP server. Every run has its own schema, key prefix and queue names, removed afterwards."""

import contextlib
import email
import itertools
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from kombu.connection import Connection
from redis import Redis

from app.bootstrap import build
from app.config import load_settings
from tests.conftest import TEST_ENV
from tests.e2e.processes import FLOWPLANE, poll
from tests.proxy import TcpProxy
from tests.servers import POSTGRES_URL, RABBITMQ_URL, REDIS_URL, RUN_ID, closed_port, require

ROOT = Path(__file__).resolve().parents[3]
_numbers = itertools.count()


class Inbox:
    """A real SMTP server that keeps what it was given, by recipient."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.raw.append(envelope.content)
        return "250 OK"

    def recipients(self) -> list[str]:
        with self._lock:
            return [str(email.message_from_bytes(raw)["To"]) for raw in self.raw]


@dataclass
class Stack:
    directory: Path
    env: dict[str, str]
    proxies: dict[str, TcpProxy]
    inbox: Inbox
    port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str, *args: str, ready: str = "") -> subprocess.Popen[bytes]:
        output = self.directory / f"{name}.log"
        with output.open("ab") as sink:
            process = subprocess.Popen([FLOWPLANE, *args], cwd=self.directory, env={**os.environ, **self.env},
                                       stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process

        def started() -> bool | None:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited {process.returncode}:\n{output.read_text()}")
            if not ready:  # the api: it answers
                with contextlib.suppress(httpx.TransportError):
                    return httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200 or None
                return None
            return ready in output.read_text() or None

        poll(started, timeout=60, what=f"{name} to start")
        return process

    def start_all(self) -> None:
        self.start("api", "api")
        self.start("worker", "worker", "--concurrency", "3", ready="worker started")
        self.start("consumers", "consumers", ready="consumers ready")

    def output(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop on SIGTERM; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _free(service: str, url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or {"postgresql": 5432, "redis": 6379, "rabbitmq": 5672}[service]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    for service in ("postgresql", "redis", "rabbitmq"):
        require(service)
    proxies = {service: TcpProxy(*_free(service, url)) for service, url in
               (("postgresql", POSTGRES_URL), ("redis", REDIS_URL), ("rabbitmq", RABBITMQ_URL))}
    tag = f"{RUN_ID}{next(_numbers)}{uuid.uuid4().hex[:4]}"
    schema, prefix = f"f_{tag}", f"fp-faults-{tag}:"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    inbox, smtp_port = Inbox(), closed_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    env = {
        **TEST_ENV,
        "PYTHONPATH": str(ROOT),
        "FLOWPLANE_DATABASE__URL": (f"postgresql://postgres@127.0.0.1:{proxies['postgresql'].port}/test"
                                    f"?options=-csearch_path%3D{schema}"),
        "FLOWPLANE_DATABASE__AUTO_MIGRATE": "false",
        "FLOWPLANE_REDIS__URL": f"redis://127.0.0.1:{proxies['redis'].port}/15",
        "FLOWPLANE_REDIS__KEY_PREFIX": prefix,
        "FLOWPLANE_RABBITMQ__URL": f"amqp://guest:guest@127.0.0.1:{proxies['rabbitmq'].port}//",
        "FLOWPLANE_RABBITMQ__PREFIX": f"t{tag}-",
        "FLOWPLANE_EMAIL__BACKEND": "smtp",
        "FLOWPLANE_EMAIL__SMTP_PORT": str(smtp_port),
        "FLOWPLANE_EVENTS__CRM_FAKE_PATH": str(tmp_path / "crm.db"),
        "FLOWPLANE_EVENTS__RETRY_DELAY": "500ms",
        "FLOWPLANE_TASKS__LEASE": "5s",
        "FLOWPLANE_TASKS__SHUTDOWN_GRACE": "5s",
        "FLOWPLANE_WORKFLOWS__RECONCILE_INTERVAL": "2s",
        "FLOWPLANE_WORKFLOWS__LEASE": "10s",
        "FLOWPLANE_TASKS__MODULES": "tests.plane_tasks",
    }
    port = closed_port()
    env["FLOWPLANE_API__PORT"] = str(port)
    build(load_settings(environ={**env, "FLOWPLANE_DATABASE__AUTO_MIGRATE": "true"})).close()  # migrate once
    world = Stack(tmp_path, env, proxies, inbox, port)
    try:
        yield world
    finally:
        world.stop_all()
        smtp.stop()
        for proxy in proxies.values():
            proxy.close()
        _remove(schema, prefix, f"t{tag}-")


def _remove(schema: str, prefix: str, queue_prefix: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    client = Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"*{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()
    settings = load_settings(environ={**TEST_ENV, "FLOWPLANE_RABBITMQ__URL": RABBITMQ_URL,
                                      "FLOWPLANE_RABBITMQ__PREFIX": queue_prefix})
    from app.handlers.catalogue import CONSUMERS
    from app.plane.events.topology import build_topology

    with Connection(RABBITMQ_URL) as connection:
        build_topology(settings, [spec.binding for spec in CONSUMERS]).delete(connection.channel())


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def register(stack: Stack, number: int, *, timeout: float = 30) -> tuple[httpx.Response, float]:
    user = {"email": f"user{number}@example.com", "name": f"User {number}", "password": "a long enough password"}
    return timed(lambda: httpx.post(f"{stack.base_url}/api/users", json=user, timeout=timeout))
