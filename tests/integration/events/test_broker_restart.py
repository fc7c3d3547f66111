"""RabbitMQ restarted mid-stream (`rabbitmqctl stop_app` / `start_app`, on a private node): publishers
and consumers reconnect, and every event is applied exactly once by each consumer."""

import signal
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from app.db.models import AuditEntry, ConsumedMessage, EventCount
from tests.e2e.processes import poll
from tests.integration.events.conftest import EventWorld
from tests.servers import OwnRabbitMQ


@pytest.fixture
def own_rabbitmq() -> Iterator[OwnRabbitMQ]:
    if not OwnRabbitMQ.available():
        pytest.skip("rabbitmq-server is not installed")
    node = OwnRabbitMQ()
    node.boot()
    yield node
    node.halt()


def _applied(engine: Any) -> tuple[int, int, int]:
    with Session(engine) as db:
        return (db.execute(select(func.count()).select_from(ConsumedMessage)).scalar_one(),
                db.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
                db.execute(select(func.coalesce(func.sum(EventCount.count), 0))).scalar_one())


def test_every_event_survives_a_broker_restart_exactly_once(events_world: EventWorld,
                                                           own_rabbitmq: OwnRabbitMQ) -> None:
    events_world.env["FLOWPLANE_RABBITMQ__URL"] = own_rabbitmq.url
    container = events_world.container()
    consumers, output = events_world.start_consumers_process()
    try:
        def publish(first: int, count: int) -> None:
            for n in range(first, first + count):
                container.plane.publish("user.created", {"user_id": f"u{n}", "email": f"u{n}@example.com",
                                                         "name": f"U{n}"})

        publish(0, 20)
        poll(lambda: _applied(container.engine)[1] >= 10 or None, timeout=30, what="the stream to flow")
        # When the broker's application stops mid-stream: publishing goes on into the outbox
        own_rabbitmq.stop_app()
        publish(20, 10)
        own_rabbitmq.start_app()
        publish(30, 10)
        # And the relay sends what waited (a publisher reconnects after its short back-off)
        poll(lambda: container.plane.relay(older_than=timedelta(0)) == 0 and _no_outbox(container) or None,
             timeout=60, what="the outbox to drain")
        # Then every consumer applies every event exactly once
        poll(lambda: _applied(container.engine) == (120, 40, 40) or None, timeout=60,
             what="40 events in each of the three consumers")
    finally:
        consumers.send_signal(signal.SIGTERM)
        consumers.wait(timeout=30)
    log = output.read_text()
    assert "event broker unreachable" in log or "Connection to broker lost" in log or "reconnect" in log.lower()


def _no_outbox(container: Any) -> bool:
    from app.db.models import OutboxMessage

    with Session(container.engine) as db:
        return db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0
