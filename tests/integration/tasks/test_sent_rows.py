"""Sent outbox rows are cleared off the sender's path, and the relay does not send them twice meanwhile."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from app.bootstrap import Container
from app.db.models import OutboxMessage
from app.plane.envelope import Envelope
from app.plane.tasks.policy import Priority, RetryPolicy, TaskOptions
from tests.integration.tasks.conftest import PlaneWorld


def _outbox_ids(container: Container) -> list[int]:
    with Session(container.engine) as db:
        return [int(outbox_id) for outbox_id in db.execute(select(OutboxMessage.id)).scalars()]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sent_rows_go_in_batches_and_the_relay_leaves_pending_ones_alone(world: PlaneWorld) -> None:
    container = world.container()
    plane = container.plane
    with container.new_session() as session, session.begin():
        for index in range(5):
            plane.resend(session, Envelope(kind="task", type="test.record", payload={"n": index}),
                         TaskOptions(queue=plane.queue, priority=Priority.MEDIUM, retry=RetryPolicy(), timeout=None))
        session.info.clear()  # as if this process sent them and was about to clear them
    ids = _outbox_ids(container)
    assert len(ids) == 5

    with plane.sent._changed:  # hold the thread off: the rows are sent, their delete not yet done
        plane.sent.add(ids)
        assert all(outbox_id in plane.sent for outbox_id in ids)
        assert plane.relay(older_than=timedelta(0)) == 0  # not sent a second time
    assert plane.sent.flush(timeout=10)
    assert _outbox_ids(container) == []

    plane.sent.stop()  # a stopped clearer starts again with the next sent row
    with container.new_session() as session, session.begin():
        plane.enqueue("test.record", {"log": world.log, "tag": "after-stop"}, session=session)
    assert plane.sent.flush(timeout=10)
    with Session(container.engine) as db:
        assert db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0
