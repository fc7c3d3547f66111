"""The analytics, CRM and audit consumers against the real RabbitMQ: fan-out, idempotency, retries,
dead letters, a broker that is down when a user registers."""

import contextlib
import json
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

from kombu.connection import Connection
from kombu.messaging import Producer
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from app.api.app import create_app
from app.bootstrap import Container
from app.db.models import AuditEntry, ConsumedMessage, EventCount, OutboxMessage, StepRun
from app.handlers.audit import append_audit_batch
from app.handlers.catalogue import CONSUMERS
from app.handlers.crm import FakeCrm
from app.plane.envelope import Envelope
from app.plane.events.consumer import ERROR
from app.plane.events.registry import ConsumerSpec
from tests.e2e.processes import poll
from tests.integration.accounts import new_user
from tests.integration.events.conftest import EventWorld, drain
from tests.servers import RABBITMQ_URL, closed_port


def _counts(container: Container) -> dict[str, Any]:
    with Session(container.engine) as db:
        return {
            "analytics": db.execute(select(func.coalesce(func.sum(EventCount.count), 0))).scalar_one(),
            "audit": db.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
            "consumed": db.execute(select(func.count()).select_from(ConsumedMessage)).scalar_one(),
        }


def test_one_registration_reaches_analytics_crm_and_audit(events_world: EventWorld) -> None:
    container = events_world.container()
    process, output = events_world.start_consumers_process()
    try:
        with TestClient(create_app(container)) as client:
            user = client.post("/api/users", json=new_user(email="ada@example.com", name="Ada")).json()["user"]
        poll(lambda: _counts(container) == {"analytics": 1, "audit": 1, "consumed": 3} or None, timeout=30,
             what="all three consumers")
        contacts = FakeCrm(events_world.env["FLOWPLANE_EVENTS__CRM_FAKE_PATH"]).contacts()
        assert [(c["email"], c["name"], c["external_id"]) for c in contacts] == [("ada@example.com", "Ada", user["id"])]
        with Session(container.engine) as db:
            entry = db.execute(select(AuditEntry)).scalar_one()
            count = db.execute(select(EventCount)).scalar_one()
        assert entry.event_type == "user.created" and json.loads(entry.payload)["email"] == "ada@example.com"
        assert "password" not in entry.payload and "hash" not in entry.payload
        assert (count.event_type, count.day, count.count) == ("user.created", datetime.now(UTC).date(), 1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, output.read_text()
    assert "consumers stopped" in output.read_text()


class _DiesBeforeAck:
    """Wraps a delivered message: the consumer's work commits, then the process 'dies' before the ack."""

    def __init__(self, message: Any) -> None:
        self._message = message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._message, name)

    def ack(self) -> None:
        raise SystemExit("killed between commit and ack")


def test_a_message_redelivered_after_a_crash_before_ack_changes_nothing(events_world: EventWorld) -> None:
    container = events_world.container()
    container.plane.publish("user.created", {"user_id": "u1", "email": "u1@example.com", "name": "U"})
    audit = next(spec for spec in CONSUMERS if spec.name == "audit")
    queues = container.topology.consumers["audit"]
    # Given the audit consumer applied the event and committed, but died before acking
    connection = Connection(RABBITMQ_URL)
    message = poll(lambda: queues.main(connection.channel()).get(no_ack=False), timeout=10, what="the event")
    runner = events_world.run_consumers(container, [])  # just for its handle() logic; consumes nothing
    with contextlib.suppress(SystemExit):
        runner.handle(audit, queues, message.decode(), _DiesBeforeAck(message))
    connection.release()  # the broker sees the consumer go: the unacked message is delivered again
    assert _counts(container)["audit"] == 1
    # When a consumer receives the redelivery
    events_world.stop_consumers()
    events_world.run_consumers(container, [audit])
    # Then it is acked and nothing changes: still one audit entry
    with Connection(RABBITMQ_URL) as probe:
        poll(lambda: probe.channel().queue_declare(queues.main.name, passive=True).message_count == 0 or None,
             timeout=10, what="the redelivery to be acked")
    events_world.stop_consumers()
    assert _counts(container)["audit"] == 1


def test_a_poison_message_is_retried_then_dead_lettered_and_the_queue_keeps_flowing(
        events_world: EventWorld) -> None:
    container = events_world.container()
    seen: list[tuple[str, int]] = []

    def picky(db: Session, event: Envelope, services: Any) -> None:
        seen.append((event.payload["name"], len(seen)))
        if event.payload["name"] == "poison":
            raise RuntimeError("cannot digest this one")

    spec = ConsumerSpec("audit", picky)
    for name in ("poison", "fine-1", "fine-2"):
        container.plane.publish("user.created", {"user_id": name, "email": f"{name}@example.com", "name": name})
    events_world.run_consumers(container, [spec])
    dead_queue = container.topology.consumers["audit"].dead
    dead: list[Any] = []
    with Connection(RABBITMQ_URL) as connection:
        poll(lambda: dead.extend(drain(connection, dead_queue)) or dead or None, timeout=20, what="the dead letter")
    names = [name for name, _ in seen]
    assert names.count("poison") == 3  # the first try and events.max_retries = 2 retries
    assert names.index("fine-1") < names.index("poison", 1)  # the fine ones did not wait behind it
    assert {"fine-1", "fine-2"} <= set(names)
    assert len(dead) == 1 and json.loads(dead[0].body)["payload"]["name"] == "poison"
    assert dead[0].headers[ERROR] == "RuntimeError: cannot digest this one"
    assert "x-flowplane-traceback" in dead[0].headers


def test_a_batch_with_a_poison_message_applies_the_others_once_and_dead_letters_it(events_world: EventWorld) -> None:
    container = events_world.container()
    batches: list[list[str]] = []

    def refuse_poison(events: Any) -> None:
        if any(event.payload["name"] == "poison" for event in events):
            raise RuntimeError("cannot digest this one")

    def audit_batch(db: Session, events: Any, services: Any) -> None:
        batches.append([event.payload["name"] for event in events])
        refuse_poison(events)
        append_audit_batch(db, events, services)

    def audit_one(db: Session, event: Envelope, services: Any) -> None:
        refuse_poison([event])
        append_audit_batch(db, [event], services)

    names = ["fine-1", "poison", "fine-2", "fine-3"]
    for name in names:  # all queued before the consumer starts: they arrive together
        container.plane.publish("user.created", {"user_id": name, "email": f"{name}@example.com", "name": name})
    events_world.run_consumers(container, [ConsumerSpec("audit", audit_one, batch_handler=audit_batch)])
    dead: list[Any] = []
    with Connection(RABBITMQ_URL) as connection:
        poll(lambda: dead.extend(drain(connection, container.topology.consumers["audit"].dead)) or dead or None,
             timeout=20, what="the dead letter")
    assert batches[0] == names  # applied as one batch first
    with Session(container.engine) as db:
        audited = [json.loads(entry.payload)["name"] for entry in db.exec(select(AuditEntry)).scalars()]
    assert sorted(audited) == ["fine-1", "fine-2", "fine-3"]  # each once, the failed batch rolled back
    assert json.loads(dead[0].body)["payload"]["name"] == "poison"


def test_undecodable_and_permanently_bad_messages_go_straight_to_the_dead_letters(events_world: EventWorld) -> None:
    container = events_world.container()
    crm = next(spec for spec in CONSUMERS if spec.name == "crm")
    queues = container.topology.consumers["crm"]
    with Connection(RABBITMQ_URL) as connection:
        container.topology.declare(connection.channel())
        producer = Producer(connection.channel())
        producer.publish("{not json", exchange="", routing_key=queues.main.name, content_type="application/json")
        broken = Envelope(kind="event", type="user.created", payload={"email": "nope"})
        producer.publish(broken.to_json(), exchange="", routing_key=queues.main.name, content_type="application/json")
    events_world.run_consumers(container, [crm])
    dead: list[Any] = []
    with Connection(RABBITMQ_URL) as connection:
        poll(lambda: dead.extend(drain(connection, queues.dead)) or len(dead) == 2 or None, timeout=20,
             what="two dead letters")
    reasons = sorted(message.headers[ERROR] for message in dead)
    assert reasons[0].startswith("PermanentError: invalid user.created payload")
    assert reasons[1].startswith("undecodable message")


def test_registration_succeeds_with_rabbitmq_down_and_the_event_arrives_later(events_world: EventWorld) -> None:
    down = f"amqp://guest:guest@127.0.0.1:{closed_port()}//"
    api = events_world.container(FLOWPLANE_RABBITMQ__URL=down)
    with TestClient(create_app(api)) as client:
        response = client.post("/api/users", json=new_user(email="patient@example.com"))
    assert response.status_code == 201
    assert api.plane.flush()  # the welcome mail task's row, cleared once sent
    with Session(api.engine) as db:
        assert db.execute(select(OutboxMessage.kind)).scalars().all() == ["event"]
        announce = db.get(StepRun, (response.json()["workflow_run_id"], "announce"))
        assert announce is not None and announce.status == "succeeded"  # durable in the outbox from the commit
    # When the broker is reachable again, the worker's relay sends it and the consumers apply it
    back = events_world.container()
    events_world.run_consumers(back, CONSUMERS)
    assert back.plane.relay(older_than=timedelta(0)) == 1
    poll(lambda: _counts(back) == {"analytics": 1, "audit": 1, "consumed": 3} or None, timeout=30,
         what="the late event in every consumer")
    assert back.plane.relay(older_than=timedelta(0)) == 0  # sent once: nothing left to send again
    with Session(back.engine) as db:
        assert db.execute(select(AuditEntry.message_id)).scalars().all() == [announce.task_id]


def test_with_events_off_registration_publishes_nothing_and_fails_nothing(events_world: EventWorld) -> None:
    container = events_world.container(FLOWPLANE_EVENTS__ENABLED="false")
    assert container.plane.publish("user.created", {"user_id": "1", "email": "a@example.com", "name": "A"}) is None
    with TestClient(create_app(container)) as client:
        response = client.post("/api/users", json=new_user())
    assert response.status_code == 201
    assert container.plane.flush()  # the welcome mail task's row, cleared once sent
    with Session(container.engine) as db:
        assert db.execute(select(OutboxMessage.kind)).scalars().all() == []
        announce = db.get(StepRun, (response.json()["workflow_run_id"], "announce"))
        assert announce is not None and announce.status == "skipped"
        assert json.loads(announce.output or "{}") == {"skipped": "events are disabled"}
