"""Real worker processes on Redis and on SQLite, each test with its own key prefix and files."""

import contextlib
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from app.bootstrap import Container, build
from app.config import Settings, load_settings
from app.handlers import Services
from tests.conftest import TEST_ENV
from tests.e2e.processes import FLOWPLANE, poll
from tests.integration.tasks.smtp import Inbox, mail_services, serving
from tests.servers import REDIS_URL, RUN_ID, require

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class PlaneWorld:
    """One isolated plane: settings as environment, a producer container, and worker processes."""

    directory: Path
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)

    @property
    def log(self) -> str:
        return str(self.directory / "tasks.log")

    def container(self, **env: str) -> Container:
        built = build(load_settings(environ={**self.env, **env}))
        self.containers.append(built)
        return built

    def start_worker(self, concurrency: int = 2, **env: str) -> subprocess.Popen[bytes]:
        number = len(self.workers)
        output = self.directory / f"worker-{number}.log"
        with output.open("wb") as sink:
            # Its own session, so a test can kill -9 the worker and all its processes at once.
            process = subprocess.Popen([FLOWPLANE, "worker", "--concurrency", str(concurrency)], cwd=self.directory,
                                       env={**os.environ, **self.env, **env}, stdout=sink, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.workers.append(process)

        def started() -> bool | None:
            if process.poll() is not None:
                raise AssertionError(f"worker exited {process.returncode}:\n{output.read_text()}")
            return "worker started" in output.read_text() or None

        poll(started, timeout=30, what="the worker to start")
        return process

    def worker_output(self, number: int = 0) -> str:
        return (self.directory / f"worker-{number}.log").read_text()

    def records(self) -> list[dict[str, Any]]:
        path = Path(self.log)
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def wait_for(self, what: str, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 30) -> list[
            dict[str, Any]]:
        return poll(lambda: (lambda rows: rows if check(rows) else None)(self.records()), timeout=timeout, what=what)

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # any orphaned child


@pytest.fixture(params=["redis", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        require("redis")
    return str(request.param)


@pytest.fixture
def world(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PlaneWorld]:
    if "database_url" in request.fixturenames:
        # Set up first, so torn down last: its schema is dropped only once the worker processes are gone
        # (dropped under a live worker, DROP SCHEMA and the worker's statements can deadlock).
        request.getfixturevalue("database_url")
    prefix = f"fp-test-{RUN_ID}-{uuid.uuid4().hex[:6]}:"
    env = {
        **TEST_ENV,
        "PYTHONPATH": str(ROOT),
        "FLOWPLANE_DATABASE__URL": f"sqlite:///{tmp_path}/flowplane.db",
        "FLOWPLANE_TASKS__MODULES": "tests.plane_tasks",
        "FLOWPLANE_TASKS__LEASE": "1s",
        "FLOWPLANE_TASKS__SHUTDOWN_GRACE": "10s",
        "FLOWPLANE_TASKS__SQLITE_PATH": f"{tmp_path}/tasks.db",
        "FLOWPLANE_EMAIL__MAIL_DIR": f"{tmp_path}/mail",
        "FLOWPLANE_API__LOG_LEVEL": "info",
    }
    if backend == "redis":
        env |= {"FLOWPLANE_REDIS__URL": REDIS_URL, "FLOWPLANE_REDIS__KEY_PREFIX": prefix}
    world = PlaneWorld(tmp_path, env)
    try:
        yield world
    finally:
        world.stop_workers()
        for container in world.containers:
            container.close()
        if backend == "redis":
            client = Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(f"*{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with serving(Inbox()) as running:
        yield running


@pytest.fixture
def mail(make_settings: Callable[..., Settings], inbox: Inbox) -> Iterator[Services]:
    """The welcome mail's services: SMTP to ``inbox``, the test's database (SQLite and PostgreSQL)."""
    settings = make_settings(FLOWPLANE_EMAIL__BACKEND="smtp", FLOWPLANE_EMAIL__SMTP_PORT=str(inbox.port))
    with mail_services(settings) as services:
        yield services
