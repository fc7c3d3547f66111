"""The task plane's contract, on Redis and on SQLite, with real worker processes."""

import re
import time
from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from app.db.models import OutboxMessage
from tests.e2e.processes import poll
from tests.integration.tasks.conftest import PlaneWorld


def _ran(rows: list[dict], tag: str) -> list[dict]:
    return [row for row in rows if row["tag"] == tag and row["event"] in ("ran", "end")]


def test_outbox_sends_on_commit_and_nothing_on_rollback(world: PlaneWorld) -> None:
    container = world.container()
    world.start_worker()
    # Given one enqueue in a transaction that rolls back, and one in a transaction that commits
    with container.new_session() as session, session.begin():
        container.plane.enqueue("test.record", {"log": world.log, "tag": "rolled-back"}, session=session)
        session.rollback()
    with container.new_session() as session, session.begin():
        kept = container.plane.enqueue("test.record", {"log": world.log, "tag": "committed"}, session=session)
    # Then the committed one runs exactly once and the other never
    rows = world.wait_for("the committed task", lambda rows: len(_ran(rows, "committed")) == 1)
    assert [row["id"] for row in _ran(rows, "committed")] == [kept.id]
    assert container.plane.relay(older_than=timedelta(0)) == 0  # nothing is left in the outbox
    assert container.plane.sent.flush()  # its sent row is cleared off the sender's path, by now
    with Session(container.engine) as session:
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0
    assert _ran(world.records(), "rolled-back") == []


def test_each_task_runs_once(world: PlaneWorld) -> None:
    container = world.container()
    ids = {container.plane.enqueue("test.record", {"log": world.log, "tag": f"t{i}"}).id for i in range(30)}
    world.start_worker(concurrency=3)
    rows = world.wait_for("30 tasks", lambda rows: len(rows) >= 30)
    assert sorted(row["id"] for row in rows) == sorted(ids)


def test_retries_back_off_exponentially_then_succeed(world: PlaneWorld) -> None:
    container = world.container()
    world.start_worker()
    task = container.plane.enqueue("test.flaky", {"log": world.log, "tag": "flaky", "fail_times": 2})
    rows = world.wait_for("three attempts", lambda rows: len(_ran(rows, "flaky")) == 3)
    attempts = _ran(rows, "flaky")
    assert [row["attempt"] for row in attempts] == [1, 2, 3]
    assert {row["id"] for row in attempts} == {task.id}
    # Each computed wait lies within full jitter's bounds [0, ceiling] (0.3 s, then 0.6 s), and each retry
    # started no earlier than its wait and soon after it (promotion runs once a second).
    waits = [float(w) for w in re.findall(r"retrying test.flaky \w+ in ([0-9.]+) s", world.worker_output(0))]
    assert len(waits) == 2 and all(0 <= wait <= ceiling for wait, ceiling in zip(waits, (0.3, 0.6), strict=True))
    gaps = [later["t"] - earlier["t"] for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert all(wait - 0.05 <= gap <= wait + 4 for gap, wait in zip(gaps, waits, strict=True)), (gaps, waits)
    # and once acked, nothing is left leased or scheduled
    poll(lambda: (lambda c: c.active == 0 and c.scheduled == 0 or None)(container.huey.leased.counts()), timeout=10,
         what="the final ack")


def test_a_delayed_task_starts_about_on_time(world: PlaneWorld) -> None:
    container = world.container()
    world.start_worker()
    enqueued_at = time.time()
    container.plane.enqueue("test.record", {"log": world.log, "tag": "later"}, delay=timedelta(seconds=2))
    rows = world.wait_for("the delayed task", lambda rows: len(_ran(rows, "later")) == 1)
    waited = _ran(rows, "later")[0]["t"] - enqueued_at
    assert 2.0 <= waited <= 4.0, waited  # due at 2 s; promotion runs once a second


def test_unique_tasks_return_the_first_id(world: PlaneWorld) -> None:
    container = world.container()
    first = container.plane.enqueue("test.record", {"log": world.log, "tag": "u"}, unique_key="report:2026-11",
                                    unique_ttl=timedelta(minutes=5))
    second = container.plane.enqueue("test.record", {"log": world.log, "tag": "u"}, unique_key="report:2026-11",
                                     unique_ttl=timedelta(minutes=5))
    other = container.plane.enqueue("test.record", {"log": world.log, "tag": "v"}, unique_key="report:2026-12",
                                    unique_ttl=timedelta(minutes=5))
    assert first.created and not second.created and other.created
    assert second.id == first.id and other.id != first.id
    world.start_worker()
    rows = world.wait_for("both distinct tasks", lambda rows: len(rows) == 2)
    assert sorted(row["tag"] for row in rows) == ["u", "v"]


def test_priorities_are_strict_high_then_medium_then_low(world: PlaneWorld) -> None:
    container = world.container()
    container.huey.leased.pause()
    order = ["low", "high", "medium", "low", "high", "medium", "low", "high"]
    for index, priority in enumerate(order):
        container.plane.enqueue("test.record", {"log": world.log, "tag": f"{priority}-{index}"}, priority=priority)
    world.start_worker(concurrency=1)
    container.huey.leased.resume()
    rows = world.wait_for("all tasks", lambda rows: len(rows) == len(order))
    ran = [row["tag"].split("-")[0] for row in rows]
    assert ran == ["high"] * 3 + ["medium"] * 2 + ["low"] * 3
    # and FIFO within a priority
    assert [row["tag"] for row in rows if row["tag"].startswith("low")] == ["low-0", "low-3", "low-6"]
