"""Durable waits on SQLite and PostgreSQL: a timer fires once its time comes (moved by the test's clock, never
slept through), an event wait wakes in the transaction that publishes its event or times out, an event
published before the wait parks still counts, and publish-versus-park races never lose a wake."""

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.bootstrap import Container, build
from app.config import Settings
from app.db.models import StepRun, WorkflowRun
from app.workflows.views import run_detail
from app.workflows.waking import NotWaiting
from tests.integration.workflows.conftest import start, write_workflow

WAITING = """name = "waiting"

[input]
user_id = "str"

[[steps]]
id = "first"
task = "email.welcome"
payload = { email = "a@example.com", name = "A" }

[[steps]]
id = "nap"
wait = "3d"

[[steps]]
id = "verified"
wait_for = "user.created"
match = { user_id = "{{ input.user_id }}" }
timeout = "2d"
after = ["first"]

[[steps]]
id = "then"
task = "email.welcome"
after = ["nap", "verified"]
when = "steps.verified.output.timed_out == false"
payload = { email = "b@example.com", name = "B" }
"""


class MovingClock:
    """In-process tests move time here; subprocesses read a FileOffsetClock instead."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, by: timedelta) -> None:
        self.offset += by


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
def waiting(tmp_path: Path, make_settings: Callable[..., Settings], clock: MovingClock) -> Iterator[Container]:
    directory = tmp_path / "workflows"
    write_workflow(directory, "waiting", WAITING)
    built = build(make_settings(FLOWPLANE_WORKFLOWS__DIRECTORY=str(directory)), clock=clock)
    yield built
    built.close()


def steps(container: Container, run_id: str) -> dict[str, dict[str, Any]]:
    detail = run_detail(container.engine, run_id)
    assert detail is not None
    return {step["id"]: step for step in detail["steps"]}


def user_created(container: Container, user_id: str) -> None:
    container.plane.publish("user.created", {"user_id": user_id, "email": f"{user_id}@example.com", "name": "U"})


def finish_first(container: Container, run_id: str) -> None:
    from app.plane.envelope import Envelope

    envelope = Envelope(kind="task", type="email.welcome", payload={}, run_id=run_id, step_id="first")
    container.runner.step_succeeded(envelope, {"message_id": "m"})


def test_a_timer_parks_and_fires_once_its_time_has_come(waiting: Container, clock: MovingClock) -> None:
    run_id = start(waiting, "waiting", {"user_id": "u1"})
    nap = steps(waiting, run_id)["nap"]
    assert nap["status"] == "waiting" and nap["due_at"] is not None
    assert waiting.waits.fire_due() == 0  # not yet
    clock.advance(timedelta(days=3) - timedelta(seconds=5))
    assert waiting.waits.fire_due() == 0
    clock.advance(timedelta(seconds=5))
    assert waiting.waits.fire_due() == 1
    nap = steps(waiting, run_id)["nap"]
    assert nap["status"] == "succeeded" and nap["output"]["woken"] is False and nap["due_at"] is None
    assert waiting.waits.fire_due() == 0  # fired once


def test_many_timers_fire_in_batches_and_one_broken_run_holds_back_none(waiting: Container,
                                                                       clock: MovingClock) -> None:
    # Given 120 parked timers (several transactions' worth), one of whose runs cannot be advanced
    runs = [start(waiting, "waiting", {"user_id": f"u{n}"}) for n in range(120)]
    broken = sorted(runs)[10]  # in the first batch of due steps
    with Session(waiting.engine) as db, db.begin():
        db.execute(update(WorkflowRun).where(col(WorkflowRun.id) == broken).values(input="{not json"))
    # When their time comes
    clock.advance(timedelta(days=3))
    # Then every other timer fires, once, and the broken one stays parked for the next sweep
    assert waiting.waits.fire_due() == 119
    assert waiting.waits.fire_due() == 0
    assert all(steps(waiting, run)["nap"]["status"] == "succeeded" for run in runs if run != broken)
    with Session(waiting.engine) as db:
        assert db.get(StepRun, (broken, "nap")).status == "waiting"  # type: ignore[union-attr]


def test_an_event_wakes_its_wait_in_the_publishing_transaction(waiting: Container) -> None:
    run_id = start(waiting, "waiting", {"user_id": "u2"})
    finish_first(waiting, run_id)
    assert steps(waiting, run_id)["verified"]["awaiting"] == "user.created"
    user_created(waiting, "someone-else")
    assert steps(waiting, run_id)["verified"]["status"] == "waiting"  # another user's event
    user_created(waiting, "u2")
    verified = steps(waiting, run_id)["verified"]
    assert verified["status"] == "succeeded"
    assert verified["output"] == {"event": {"user_id": "u2", "email": "u2@example.com", "name": "U"},
                                  "timed_out": False}
    user_created(waiting, "u2")  # a duplicate changes nothing
    assert steps(waiting, run_id)["verified"]["output"]["timed_out"] is False


def test_an_event_wait_times_out(waiting: Container, clock: MovingClock) -> None:
    run_id = start(waiting, "waiting", {"user_id": "u3"})
    finish_first(waiting, run_id)
    clock.advance(timedelta(days=3))
    assert waiting.waits.fire_due() == 2  # the timer and the time-out
    shown = steps(waiting, run_id)
    assert shown["verified"]["output"] == {"timed_out": True}
    assert shown["then"]["status"] == "skipped"  # its condition reads the time-out
    assert run_detail(waiting.engine, run_id)["status"] == "succeeded"


def test_an_event_published_before_the_wait_parks_still_counts(waiting: Container) -> None:
    user_created(waiting, "early")  # before the run: not counted
    run_id = start(waiting, "waiting", {"user_id": "early"})
    assert steps(waiting, run_id)["verified"]["status"] == "waiting"  # not parked yet: `first` runs
    finish_first(waiting, run_id)
    assert steps(waiting, run_id)["verified"]["status"] == "waiting"  # the event before the run did not count
    other = start(waiting, "waiting", {"user_id": "clicker"})
    user_created(waiting, "clicker")  # a click before the wait parks (its mail step has not finished)
    finish_first(waiting, other)
    assert steps(waiting, other)["verified"]["output"]["timed_out"] is False


def test_an_operator_cuts_a_wait_short(waiting: Container) -> None:
    run_id = start(waiting, "waiting", {"user_id": "u4"})
    assert waiting.waits.wake(run_id, "nap")["woken"] is True
    assert steps(waiting, run_id)["nap"]["status"] == "succeeded"
    with pytest.raises(NotWaiting):
        waiting.waits.wake(run_id, "nap")
    with pytest.raises(NotWaiting):
        waiting.waits.wake(run_id, "verified")  # not parked yet
    finish_first(waiting, run_id)
    assert waiting.waits.wake(run_id, "verified") == {"timed_out": True, "woken": True}


def test_publishing_and_parking_at_once_never_lose_a_wake(waiting: Container) -> None:
    runs = {f"race-{uuid.uuid4().hex[:6]}": "" for _ in range(30)}
    for user_id in runs:
        runs[user_id] = start(waiting, "waiting", {"user_id": user_id})
    errors: list[BaseException] = []

    def each(action: Callable[[str], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                for user_id in runs:
                    action(user_id)
            except BaseException as error:  # surfaced below
                errors.append(error)

        return run

    parkers = threading.Thread(target=each(lambda user_id: finish_first(waiting, runs[user_id])))
    publishers = threading.Thread(target=each(lambda user_id: user_created(waiting, user_id)))
    parkers.start(), publishers.start()
    parkers.join(60), publishers.join(60)
    assert not errors, errors
    outcomes = {user_id: steps(waiting, run_id)["verified"] for user_id, run_id in runs.items()}
    assert all(step["status"] == "succeeded" and step["output"]["timed_out"] is False
               for step in outcomes.values()), outcomes


def test_a_wait_until_a_time_from_the_input(tmp_path: Path, make_settings: Callable[..., Settings],
                                            clock: MovingClock) -> None:
    directory = tmp_path / "workflows"
    write_workflow(directory, "trial", """name = "trial"

[input]
ends_at = "str"

[[steps]]
id = "until_end"
until = "{{ input.ends_at }}"
""")
    container = build(make_settings(FLOWPLANE_WORKFLOWS__DIRECTORY=str(directory)), clock=clock)
    try:
        ends = (clock.now() + timedelta(hours=5)).astimezone(UTC).isoformat()
        run_id = start(container, "trial", {"ends_at": ends})
        assert steps(container, run_id)["until_end"]["due_at"] is not None
        bad = start(container, "trial", {"ends_at": "next tuesday"})
        assert "until" in steps(container, bad)["until_end"]["last_error"]
        clock.advance(timedelta(hours=5))
        assert container.waits.fire_due() == 1
        with Session(container.engine):
            assert run_detail(container.engine, run_id)["status"] == "succeeded"
    finally:
        container.close()


OWN_EVENT = """name = "own_event"

[input]
user_id = "uuid"

[[steps]]
id = "verified"
wait_for = "user.created"
match = { user_id = "{{ input.user_id }}" }
timeout = "1d"

[[steps]]
id = "first"
task = "email.welcome"
payload = { email = "a@example.com", name = "A" }

[[steps]]
id = "announce"
event = "user.created"
after = ["first"]
payload = { user_id = "{{ input.user_id }}", email = "a@example.com", name = "A" }

[[steps]]
id = "join"
task = "email.welcome"
after = ["verified", "announce"]
payload = { email = "b@example.com", name = "B" }

[[steps]]
id = "after_wait"
task = "email.welcome"
after = ["verified"]
payload = { email = "c@example.com", name = "C" }
"""


@pytest.mark.parametrize("events", ["true", "false"])
def test_a_run_whose_own_event_ends_its_parked_wait_goes_on_at_once(
        tmp_path: Path, make_settings: Callable[..., Settings], events: str) -> None:
    # The publish hook wakes parked steps from the database; this run's rows there are not saved yet (it is the
    # one publishing): the run wakes its own wait in memory, once, and what waits for both goes on.
    directory = tmp_path / "workflows"
    write_workflow(directory, "own_event", OWN_EVENT)
    container = build(make_settings(FLOWPLANE_WORKFLOWS__DIRECTORY=str(directory), FLOWPLANE_EVENTS__ENABLED=events))
    try:
        run_id = start(container, "own_event", {"user_id": str(uuid.uuid4())})
        assert steps(container, run_id)["verified"]["status"] == "waiting"
        finish_first(container, run_id)
        after = steps(container, run_id)
        assert after["verified"]["status"] == "succeeded" and after["verified"]["output"]["timed_out"] is False
        assert after["join"]["status"] == "ready" and after["after_wait"]["status"] == "ready"
        with Session(container.engine) as db:  # each dispatched once: one outbox row or task each
            rows = db.exec(select(StepRun.task_id).where(col(StepRun.run_id) == run_id,
                                                         col(StepRun.step_id).in_(["join", "after_wait"]))).all()
        assert len(set(rows)) == 2
    finally:
        container.close()
