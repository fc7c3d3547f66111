"""Two scheduler replicas as real processes on a per-second schedule: every tick fires exactly once,
and when one replica is killed the other keeps firing every tick."""

import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from app.bootstrap import build
from app.config import load_settings
from app.db.models import OutboxMessage, ScheduleFire
from app.plane.envelope import Envelope
from app.plane.tasks.inspect import TaskInspector
from tests.e2e.processes import FLOWPLANE, environment, poll

SECONDLY = """name = "secondly"
every = "1s"
coalesce = false                 # every tick matters here: a replica running late fires each one it owes
misfire_grace = "30s"

[target]
task = "plane.noop"
"""


def _fires(engine: object) -> list[ScheduleFire]:
    with Session(engine) as db:  # type: ignore[arg-type]
        return list(db.exec(select(ScheduleFire).order_by(ScheduleFire.scheduled_at)).all())


def test_two_replicas_fire_each_tick_once_and_one_keeps_going_when_the_other_dies(
        tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "secondly.toml").write_text(SECONDLY)
    env = environment(FLOWPLANE_DATABASE__URL=database_url, FLOWPLANE_SCHEDULER__DIRECTORY=str(tmp_path / "schedules"),
                      FLOWPLANE_TASKS__SQLITE_PATH=str(tmp_path / "tasks.db"))
    container = build(load_settings(environ={key: value for key, value in env.items() if key.startswith("FLOWPLANE_")}))
    request.addfinalizer(container.close)  # whatever fails below: its connections must not leak into other tests
    replicas = []
    for number in range(2):
        with (tmp_path / f"scheduler-{number}.log").open("wb") as sink:
            replicas.append(subprocess.Popen([FLOWPLANE, "scheduler"], cwd=tmp_path, env=env, stdout=sink,
                                             stderr=subprocess.STDOUT, start_new_session=True))
    try:
        both = poll(lambda: (lambda rows: rows if len({f.replica for f in rows}) == 2 and len(rows) >= 5 else None)(
            _fires(container.engine)), timeout=60, what="both replicas to fire")
        killed_at = datetime.now(UTC)
        os.killpg(replicas[1].pid, signal.SIGKILL)
        replicas[1].wait()
        poll(lambda: (lambda rows: rows if rows and rows[-1].scheduled_at > killed_at + timedelta(seconds=4)
                      else None)(_fires(container.engine)), timeout=30, what="ticks after the kill")
    finally:
        for process in replicas:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
    rows = _fires(container.engine)
    queued = {view.id for view in TaskInspector(container.huey, container.plane, container.engine)
              .list("pending", limit=10_000).items}
    with Session(container.engine) as db:
        in_outbox = {Envelope.from_json(row.envelope).id for row in db.exec(select(OutboxMessage)).all()}
    ticks = [row.scheduled_at for row in rows]
    first, last = ticks[0], ticks[-1]
    expected = [first + timedelta(seconds=n) for n in range(int((last - first).total_seconds()) + 1)]
    assert ticks == expected  # every second from the first fire to the last, none twice (the claim), none missed
    assert all(row.outcome == "dispatched" for row in rows)
    dispatched = {row.dispatched_id for row in rows}
    assert len(dispatched) == len(rows)  # one task per tick
    # and each was really dispatched: queued, or still in the outbox for a worker's relay (a replica killed
    # between its commit and the send after it leaves the row there; killed after the send, in both)
    assert dispatched <= queued | in_outbox and queued <= dispatched
    survivor = {row.replica for row in rows if row.scheduled_at > killed_at + timedelta(seconds=1)}
    assert len(survivor) == 1 and len({row.replica for row in both}) == 2
