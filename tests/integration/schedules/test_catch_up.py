"""Catch-up after an outage, with real scheduler processes: however many replicas start at once, a coalescing
schedule fires one missed tick, the latest; and a schedule never fires a tick from before it first existed."""

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from app.bootstrap import Container, build
from app.config import load_settings
from app.db.models import ScheduleFire, ScheduleState
from app.scheduling.ticks import EPOCH, latest_tick, ticks_between
from tests.e2e.processes import FLOWPLANE, environment, poll

SCHEDULE = """name = "{name}"
every = "{every}"
misfire_grace = "{grace}"

[target]
task = "plane.noop"
"""


class Replicas:
    """``flowplane scheduler`` processes sharing one database and one schedules directory."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        (directory / "schedules").mkdir()
        self.env = environment(FLOWPLANE_DATABASE__URL=database_url,
                               FLOWPLANE_SCHEDULER__DIRECTORY=str(directory / "schedules"),
                               FLOWPLANE_SCHEDULER__RELOAD_INTERVAL="200ms",
                               FLOWPLANE_TASKS__SQLITE_PATH=str(directory / "tasks.db"))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.container: Container = build(load_settings(environ={key: value for key, value in self.env.items()
                                                                 if key.startswith("FLOWPLANE_")}))

    def write(self, name: str, every: str, grace: str) -> None:
        (self.directory / "schedules" / f"{name}.toml").write_text(SCHEDULE.format(name=name, every=every,
                                                                                   grace=grace))

    def log(self, number: int) -> Path:
        return self.directory / f"scheduler-{number}.log"

    def start(self, count: int) -> None:
        for number in range(len(self.processes), len(self.processes) + count):
            with self.log(number).open("wb") as sink:
                self.processes.append(subprocess.Popen([FLOWPLANE, "scheduler"], cwd=self.directory, env=self.env,
                                                       stdout=sink, stderr=subprocess.STDOUT))

    def await_started(self) -> None:
        def started() -> bool | None:
            for number, process in enumerate(self.processes):
                if process.poll() is not None:
                    raise AssertionError(f"scheduler exited {process.returncode}:\n{self.log(number).read_text()}")
            return all("scheduler started" in self.log(n).read_text() for n in range(len(self.processes))) or None

        poll(started, timeout=60, what="the schedulers to start")

    def fires(self, name: str) -> list[ScheduleFire]:
        with Session(self.container.engine) as db:
            return list(db.exec(select(ScheduleFire).where(ScheduleFire.schedule == name)
                                .order_by(col(ScheduleFire.scheduled_at))).all())

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            process.wait(timeout=30)
        self.container.close()


@pytest.fixture
def replicas(tmp_path: Path, database_url: str) -> Iterator[Replicas]:
    started = Replicas(tmp_path, database_url)
    try:
        yield started
    finally:
        started.close()


def test_replicas_starting_together_after_an_outage_fire_one_catch_up_the_latest(replicas: Replicas) -> None:
    replicas.write("five", every="5s", grace="1m")
    schedule = replicas.container.schedules.get("five")
    now = datetime.now(UTC)
    # Given a schedule known for ten minutes, whose last fire came before an outage of over half its grace
    with Session(replicas.container.engine) as db, db.begin():
        db.add(ScheduleState(schedule="five", paused=False, updated_at=now - timedelta(minutes=10)))
    last_before = ticks_between(schedule, now - timedelta(seconds=45), now - timedelta(seconds=35))[-1]
    assert replicas.container.scheduling.fire(schedule, last_before) is not None

    # When two replicas start together, and both have been running for a live tick after that
    starting = datetime.now(UTC)
    replicas.start(2)
    replicas.await_started()
    running = datetime.now(UTC)
    poll(lambda: any(row.scheduled_at > running for row in replicas.fires("five")) or None, timeout=30,
         what="a live tick after both replicas started")

    # Then of the ticks missed during the outage one fired, as a catch-up: the latest (a slow start may let
    # a later tick come due meanwhile and fire live), and none older
    rows = [row for row in replicas.fires("five") if row.scheduled_at > last_before]
    catch_ups = [row.scheduled_at for row in rows if row.trigger == "catch_up"]
    assert len(catch_ups) == 1, [(row.scheduled_at, row.trigger) for row in rows]
    assert catch_ups[0] >= latest_tick(schedule, starting)
    assert min(row.scheduled_at for row in rows) == catch_ups[0]
    assert all(row.outcome == "dispatched" for row in rows)


def _just_after_a_tick(every: timedelta) -> None:
    """Return just after one of the interval's ticks, so the tick before now is a moment old."""
    since = (datetime.now(UTC) - EPOCH) % every
    time.sleep((every - since).total_seconds() + 0.05)


def test_a_schedule_added_while_running_fires_no_tick_from_before_its_file_existed(replicas: Replicas) -> None:
    replicas.start(1)
    replicas.await_started()
    # Given a file written just after one of its ticks, with a grace that would reach far back
    _just_after_a_tick(timedelta(seconds=2))
    created = datetime.now(UTC)
    replicas.write("fresh", every="2s", grace="1h")

    rows = poll(lambda: (lambda found: found if len(found) >= 3 else None)(replicas.fires("fresh")), timeout=30,
                what="three fires of the new schedule")
    # Then the tick a moment before it was written, inside the grace, never fired: only the ones after
    assert all(row.scheduled_at >= created for row in rows), [(row.scheduled_at, row.trigger) for row in rows]
