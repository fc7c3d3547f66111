"""A private corner of the real RabbitMQ per test: every exchange and queue carries a unique prefix."""

import os
import subprocess
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kombu.connection import Connection

from app.bootstrap import Container, build, services
from app.config import Settings, load_settings
from app.plane.events.consumer import EventConsumers
from app.plane.events.registry import ConsumerSpec
from app.plane.events.topology import Topology
from tests.conftest import TEST_ENV
from tests.e2e.processes import FLOWPLANE, poll
from tests.servers import RABBITMQ_URL, RUN_ID, require


@dataclass
class EventWorld:
    directory: Path
    env: dict[str, str]
    topologies: list[Topology] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)
    runners: list[tuple[EventConsumers, threading.Thread, Connection]] = field(default_factory=list)

    def settings(self, **env: str) -> Settings:
        return load_settings(environ={**self.env, **env})

    def container(self, **env: str) -> Container:
        built = build(self.settings(**env))
        self.containers.append(built)
        self.topologies.append(built.topology)
        return built

    def run_consumers(self, container: Container, specs: Sequence[ConsumerSpec]) -> EventConsumers:
        """The real consumer runtime on a thread, against the real broker."""
        connection = Connection(RABBITMQ_URL, heartbeat=0)
        settings = container.settings
        runner = EventConsumers(connection, container.topology, specs, container.engine, services(settings),
                                prefetch=settings.events.prefetch, max_retries=settings.events.max_retries)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        self.runners.append((runner, thread, connection))
        return runner

    def start_consumers_process(self) -> tuple[subprocess.Popen[bytes], Path]:
        """`flowplane consumers` as a real process; returns it and its log once it consumes."""
        output = self.directory / "consumers.log"
        with output.open("wb") as sink:
            process = subprocess.Popen([FLOWPLANE, "consumers"], cwd=self.directory, env={**os.environ, **self.env},
                                       stdout=sink, stderr=subprocess.STDOUT)
        poll(lambda: "consumers ready" in output.read_text() or None, timeout=30, what="the consumers")
        return process, output

    def stop_consumers(self) -> None:
        for runner, thread, connection in self.runners:
            runner.should_stop = True
            thread.join(timeout=10)
            connection.release()
        self.runners.clear()

    def cleanup(self) -> None:
        self.stop_consumers()
        with Connection(RABBITMQ_URL) as connection:
            channel = connection.channel()
            for topology in self.topologies:
                topology.delete(channel)
        for container in self.containers:
            container.close()


@pytest.fixture
def events_world(tmp_path: Path) -> Iterator[EventWorld]:
    require("rabbitmq")
    prefix = f"t{RUN_ID}{uuid.uuid4().hex[:6]}-"
    env = {
        **TEST_ENV,
        "FLOWPLANE_DATABASE__URL": f"sqlite:///{tmp_path}/flowplane.db",
        "FLOWPLANE_RABBITMQ__URL": RABBITMQ_URL,
        "FLOWPLANE_RABBITMQ__PREFIX": prefix,
        "FLOWPLANE_TASKS__SQLITE_PATH": f"{tmp_path}/tasks.db",
        "FLOWPLANE_EVENTS__CRM_FAKE_PATH": f"{tmp_path}/crm.db",
        "FLOWPLANE_EVENTS__RETRY_DELAY": "200ms",
        "FLOWPLANE_EVENTS__MAX_RETRIES": "2",
    }
    world = EventWorld(tmp_path, env)
    try:
        yield world
    finally:
        world.cleanup()


def drain(connection: Connection, queue: Any) -> list[Any]:
    """Every message now in ``queue`` (acked), oldest first."""
    channel = connection.channel()
    messages = []
    while (message := queue(channel).get(no_ack=True)) is not None:
        messages.append(message)
    return messages
