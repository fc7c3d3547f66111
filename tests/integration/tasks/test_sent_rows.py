"""Sent outbox rows are cleared off the sender's path, the relay does not send them twice meanwhile, and a
clearing that lags never takes a newer row with it."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete
from sqlmodel import Session, select

from app.bootstrap import Container
from app.db.models import OutboxMessage
from app.plane.envelope import Envelope
from app.plane.tasks.policy import Priority, RetryPolicy, TaskOptions
from tests.integration.tasks.conftest import PlaneWorld

OPTIONS = TaskOptions(queue="q", priority=Priority.MEDIUM, retry=RetryPolicy(), timeout=None)


def _write(container: Container, count: int) -> None:
    """Outbox rows as if this process had just committed them, their send still to come."""
    with container.new_session() as session, session.begin():
        for index in range(count):
            container.plane.resend(session, Envelope(kind="task", type="test.record", payload={"n": index}), OPTIONS)
        session.info.clear()


def _rows(container: Container) -> list[tuple[int, datetime]]:
    with Session(container.engine) as db:
        return [(int(row.id or 0), row.created_at) for row in db.exec(select(OutboxMessage)).all()]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sent_rows_go_in_batches_and_the_relay_leaves_pending_ones_alone(world: PlaneWorld) -> None:
    container = world.container()
    plane = container.plane
    _write(container, 5)
    rows = _rows(container)
    assert len(rows) == 5

    with plane.sent._changed:  # hold the clearer off: the rows are sent, their delete not done yet
        plane.sent.add(rows)
        assert plane.sent.unsettled() == {outbox_id for outbox_id, _ in rows}
        assert plane.relay(older_than=timedelta(0)) == 0  # not sent a second time
    assert plane.sent.flush(timeout=10)
    assert _rows(container) == []

    plane.sent.stop()  # a stopped clearer starts again with the next sent row
    with container.new_session() as session, session.begin():
        plane.enqueue("test.record", {"log": world.log, "tag": "after-stop"}, session=session)
    assert plane.sent.flush(timeout=10)
    assert _rows(container) == []


def test_a_late_clearing_spares_a_newer_row_with_the_same_id(container: Container) -> None:
    # Given a sent row the relay of another process also sent and deleted, and a newer row that took its id
    # (SQLite hands out the highest id again once it is deleted)
    _write(container, 1)
    [(outbox_id, created_at)] = _rows(container)
    with Session(container.engine) as db, db.begin():
        db.execute(delete(OutboxMessage))
    _write(container, 1)
    [(newer_id, _)] = _rows(container)
    if container.engine.dialect.name == "sqlite":
        assert newer_id == outbox_id
    # When this process finally clears what it sent
    container.plane.sent.add([(newer_id, created_at)])
    assert container.plane.sent.flush(timeout=10)
    # Then the newer row, still to be sent, stays
    assert [row_id for row_id, _ in _rows(container)] == [newer_id]
