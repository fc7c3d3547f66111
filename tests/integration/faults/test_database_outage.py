"""A database outage is no message's failure: events delivered and tasks run while the consumers and
workers cannot reach PostgreSQL wait, with their attempts uncounted, and are applied once it is back."""

import json
import time
from pathlib import Path

import pytest
from kombu.connection import Connection

from app.bootstrap import build
from app.config import load_settings
from app.plane.envelope import Envelope
from tests.e2e.processes import poll
from tests.integration.faults.conftest import Stack
from tests.servers import RABBITMQ_URL

OUTAGE_SECONDS = 4.0  # longer than an event's whole retry budget here (3 retries, 0.5 s apart)


def _queue_depths(stack: Stack, container: object) -> dict[str, int]:
    topology = container.topology  # type: ignore[attr-defined]
    with Connection(RABBITMQ_URL) as connection:
        channel = connection.channel()
        return {name: channel.queue_declare(queue.name, passive=True).message_count
                for consumer in topology.consumers.values()
                for name, queue in (("dead", consumer.dead), ("main", consumer.main))}


@pytest.mark.parametrize("fault", ["refuse", "blackhole"])
def test_events_delivered_while_the_database_is_down_wait_and_are_applied_once(stack: Stack, fault: str) -> None:
    container = build(load_settings(environ=stack.env))
    try:
        stack.start("consumers", "consumers", ready="consumers ready")
        with stack.proxies["postgresql"].fault(fault):
            # Given events published while the consumers cannot reach PostgreSQL (straight to the broker)
            ids = []
            for number in range(5):
                envelope = Envelope(kind="event", type="user.created", payload={
                    "user_id": f"u{number}", "email": f"u{number}@example.com", "name": f"U {number}"})
                container.publisher.publish(envelope)
                ids.append(envelope.id)
            deadline = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < deadline:  # the outage lasts; meanwhile nothing may go dead
                assert stack.processes["consumers"].poll() is None, stack.output("consumers")
                assert sum(depth for name, depth in _queue_depths(stack, container).items() if name == "dead") == 0
                time.sleep(0.25)
        # Then once it is back each consumer applies each event once, and none was dead-lettered
        def applied() -> bool | None:
            with container.engine.connect() as db:
                from sqlalchemy import text
                rows = db.execute(text("SELECT consumer, message_id FROM consumed_messages")).all()
            return sorted(rows) == sorted((consumer, id_) for consumer in ("analytics", "audit", "crm")
                                          for id_ in ids) or None

        poll(applied, timeout=60, what="every consumer to apply every event")
        assert stack.processes["consumers"].poll() is None
        output = stack.output("consumers")
        assert "dead-letters" not in output and "Traceback" not in output, output
        assert "waits for it" in output or "wait for it" in output
    finally:
        container.close()


def _notes(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_task_whose_database_is_down_runs_again_as_the_same_attempt(stack: Stack) -> None:
    container = build(load_settings(environ=stack.env))
    log = stack.directory / "tasks.log"
    try:
        stack.start("worker", "worker", "--concurrency", "2", ready="worker started")
        with stack.proxies["postgresql"].fault("refuse"):
            # Given a task that needs the database, run while it refuses connections for longer than the
            # task's whole retry policy (4 attempts within about 2 s)
            envelope = Envelope(kind="task", type="test.database", payload={"log": str(log), "tag": "db"})
            spec = container.registry["test.database"]
            from app.plane.tasks.policy import TaskOptions

            container.huey.send(envelope, TaskOptions(queue=container.settings.tasks.queue, priority=spec.priority,
                                                      retry=spec.retry, timeout=spec.timeout))
            poll(lambda: len(_notes(log)) >= 2 or None, timeout=30, what="the task to try twice")
            time.sleep(OUTAGE_SECONDS)  # the outage lasts past the retry budget
        # Then it succeeds once the database is back, every try counted as its first attempt, never dead
        poll(lambda: any(note["event"] == "end" for note in _notes(log)) or None, timeout=60, what="the task to end")
        notes = _notes(log)
        assert {note["attempt"] for note in notes} == {1}, notes
        assert [note["event"] for note in notes].count("end") == 1
        assert "is dead after" not in stack.output("worker")
    finally:
        container.close()
