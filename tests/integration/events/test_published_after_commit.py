"""Events written in a caller's transaction are published by a thread of the process after the commit, in
batches: the committer does not wait for RabbitMQ's confirm, the relay does not send them a second time
meanwhile, and a broker that refuses leaves every one of them in the outbox."""

from datetime import timedelta

from kombu.connection import Connection
from sqlalchemy import func, select
from sqlmodel import Session

from app.bootstrap import Container
from app.db.models import OutboxMessage
from tests.e2e.processes import poll
from tests.integration.events.conftest import EventWorld
from tests.servers import RABBITMQ_URL, closed_port

EVENTS = 30


def _publish_in_one_transaction(container: Container, count: int) -> None:
    with Session(container.engine, expire_on_commit=False) as db, db.begin():
        for n in range(count):
            container.plane.publish("user.created", {"user_id": f"u{n}", "email": f"u{n}@example.com",
                                                     "name": f"U{n}"}, session=db)


def _outbox(container: Container) -> int:
    with Session(container.engine) as db:
        return int(db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one())


def _queued(container: Container, consumer: str) -> int:
    with Connection(RABBITMQ_URL) as connection:
        queue = container.topology.consumers[consumer].main(connection.channel())
        return int(queue.queue_declare(passive=True).message_count)


def test_a_commits_events_go_out_after_it_once_and_the_relay_leaves_them_alone(events_world: EventWorld) -> None:
    container = events_world.container()
    batches = container.plane._events_after_commit
    assert batches is not None
    container.plane.publish("user.created", {"user_id": "warm", "email": "w@example.com", "name": "W"})  # topology
    # Given the publishing thread held off, a commit that wrote 30 events returns with them still to publish
    with batches._changed:
        _publish_in_one_transaction(container, EVENTS)
        assert len(batches.unsettled()) == EVENTS
        # When the relay runs meanwhile, it sends none of them
        assert container.plane.relay(older_than=timedelta(0)) == 0
    # Then once the thread runs, each reaches every consumer's queue once and its outbox row is cleared
    assert container.plane.flush(timeout=10)
    for consumer in ("analytics", "crm", "audit"):
        assert poll(lambda c=consumer: _queued(container, c) == EVENTS + 1 or None, timeout=10, what=consumer)
    assert _outbox(container) == 0


def test_events_a_refusing_broker_did_not_take_stay_for_the_relay(events_world: EventWorld) -> None:
    container = events_world.container(FLOWPLANE_RABBITMQ__URL=f"amqp://guest:guest@127.0.0.1:{closed_port()}//")
    _publish_in_one_transaction(container, EVENTS)
    batches = container.plane._events_after_commit
    assert batches is not None and batches.flush(timeout=30)
    assert _outbox(container) == EVENTS
