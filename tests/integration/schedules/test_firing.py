"""Firing ticks against the real database: claims, catch-up within the grace, pause, overlap policies,
hot reload and a rejected edit."""

import logging
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from app.bootstrap import Container
from app.config import Settings
from app.db.models import ScheduleFire, ScheduleState
from app.scheduling.scheduler import SchedulerProcess
from app.scheduling.spec import Overlap, Schedule
from tests.conftest import ROOT

TICK = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # every-10-minute schedules tick at :00, :10, ...


def every_10m(target_kind: str = "task", target: str = "plane.noop", **changes: object) -> Schedule:
    values: dict[str, object] = {"name": "often", "target_kind": target_kind, "target": target,
                                 "every": timedelta(minutes=10), "misfire_grace": timedelta(minutes=15)}
    values.update(changes)
    return Schedule(**values)  # type: ignore[arg-type]


def fires(container: Container, name: str = "often") -> list[ScheduleFire]:
    with Session(container.engine) as db:
        return list(db.exec(select(ScheduleFire).where(ScheduleFire.schedule == name)
                            .order_by(ScheduleFire.scheduled_at)).all())


def process(container: Container) -> SchedulerProcess:
    return SchedulerProcess(container.schedules, container.scheduling, reload_interval=1)


def known_since(container: Container, at: datetime, *names: str) -> None:
    """Record schedules as first seen by a scheduler at ``at``, as if loaded then."""
    with Session(container.engine) as db, db.begin():
        db.add_all(ScheduleState(schedule=name, paused=False, updated_at=at) for name in names)


def test_a_tick_is_fired_once_however_many_replicas_try(container: Container) -> None:
    schedule = every_10m()
    first = container.scheduling.fire(schedule, TICK)
    assert first is not None and first.outcome == "dispatched" and first.dispatched_id
    other = type(container.scheduling)(container.engine, container.plane, container.runner,
                                       task_unfinished=lambda _: False, task_cancel=lambda _: False, replica="other")
    assert other.fire(schedule, TICK) is None
    assert len(fires(container)) == 1


def test_a_replica_catches_up_a_missed_tick_inside_the_grace_once_and_skips_older_ones(container: Container) -> None:
    known_since(container, TICK - timedelta(hours=1), "often", "late", "coalesced", "each")
    schedule = every_10m()
    caught = process(container).catch_up(schedule, now=TICK + timedelta(minutes=5))
    assert [(fire.scheduled_at, fire.trigger) for fire in caught] == [(TICK, "catch_up")]
    assert process(container).catch_up(schedule, now=TICK + timedelta(minutes=6)) == []  # a second replica
    # Outside the grace: a tick 20 minutes old is skipped, not replayed
    late = every_10m(name="late", misfire_grace=timedelta(minutes=5))
    assert process(container).catch_up(late, now=TICK + timedelta(minutes=7)) == []
    # Coalescing fires the latest of several missed ticks once; without it, each
    assert [fire.scheduled_at for fire in process(container).catch_up(
        every_10m(name="coalesced", misfire_grace=timedelta(minutes=35)), now=TICK + timedelta(minutes=1))] == [TICK]
    assert [fire.scheduled_at for fire in process(container).catch_up(
        every_10m(name="each", misfire_grace=timedelta(minutes=35), coalesce=False),
        now=TICK + timedelta(minutes=1))] == [TICK - timedelta(minutes=30), TICK - timedelta(minutes=20),
                                              TICK - timedelta(minutes=10), TICK]


def test_a_catch_up_never_fires_a_tick_older_than_one_already_fired(container: Container) -> None:
    known_since(container, TICK - timedelta(hours=1), "often")
    schedule = every_10m(misfire_grace=timedelta(minutes=35))
    # Given the latest tick fired by one replica, the three before it missed
    assert container.scheduling.fire(schedule, TICK) is not None
    # Then another replica starting now has nothing to catch up: not the unfired tick before the fired one
    assert process(container).catch_up(schedule, now=TICK + timedelta(minutes=1)) == []
    assert [fire.scheduled_at for fire in fires(container)] == [TICK]


def test_ticks_from_before_a_schedule_was_first_seen_are_never_caught_up(container: Container) -> None:
    schedule = every_10m(misfire_grace=timedelta(hours=1))
    each = every_10m(name="each", misfire_grace=timedelta(hours=1), coalesce=False)
    # Given schedules a replica loads for the first time at TICK + 5 min: the ticks before it are not owed
    assert process(container).catch_up(schedule, now=TICK + timedelta(minutes=5)) == []
    assert process(container).catch_up(each, now=TICK + timedelta(minutes=5)) == []
    # When another replica, or the same one restarted, loads them after an outage
    caught = process(container).catch_up(schedule, now=TICK + timedelta(minutes=25))
    caught_each = process(container).catch_up(each, now=TICK + timedelta(minutes=25))
    # Then the ticks missed since then are caught up (the latest only when coalescing), none from before
    assert [(fire.scheduled_at, fire.trigger) for fire in caught] == [(TICK + timedelta(minutes=20), "catch_up")]
    assert [fire.scheduled_at for fire in caught_each] == [TICK + timedelta(minutes=10), TICK + timedelta(minutes=20)]


def test_the_first_seen_record_moves_with_a_pause_or_resume_only(container: Container) -> None:
    service = container.scheduling
    assert service.first_seen("often", TICK) == TICK
    assert service.first_seen("often", TICK + timedelta(minutes=5)) == TICK  # recorded once, by whoever came first
    service.set_paused("often", False)  # no change: the record stays
    assert service.first_seen("often", TICK + timedelta(minutes=5)) == TICK
    paused_at = datetime.now(UTC)
    service.set_paused("often", True)  # a pause (or resume) is a change: ticks before it are not caught up
    assert service.first_seen("often", TICK + timedelta(minutes=5)) >= paused_at
    assert service.paused("often")


def test_apscheduler_only_wakes_the_process_and_leaves_misfires_to_the_catch_up_rule(
        container: Container, tmp_path: Path) -> None:
    from app.scheduling.catalogue import ScheduleCatalogue

    directory = tmp_path / "schedules"
    directory.mkdir()
    (directory / "a.toml").write_text(GOOD.format(name="a", every="1h").replace(
        "[target]", 'coalesce = false\nmisfire_grace = "1m"\n\n[target]'))
    catalogue = ScheduleCatalogue(directory, tasks=container.registry.names, workflows=lambda: [],
                                  default_timezone="UTC")
    scheduler = SchedulerProcess(catalogue, container.scheduling, reload_interval=1)
    scheduler.scheduler.start(paused=True)
    scheduler.sync()
    job = scheduler.scheduler.get_job("a")
    # A late wake-up runs the job once, however late: which missed ticks fire is the process's decision alone
    assert (job.coalesce, job.misfire_grace_time) == (True, None)
    scheduler.scheduler.shutdown()


def test_a_paused_schedule_skips_its_ticks_on_every_replica(container: Container) -> None:
    schedule = every_10m()
    container.scheduling.set_paused("often", True)
    skipped = container.scheduling.fire(schedule, TICK)
    assert skipped is not None and skipped.outcome == "skipped" and skipped.detail == "paused"
    container.scheduling.set_paused("often", False)
    resumed = container.scheduling.fire(schedule, TICK + timedelta(minutes=10))
    assert resumed is not None and resumed.outcome == "dispatched"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    """The repository's workflows plus ``long``, whose run stays unfinished (no worker runs it here)."""
    directory = tmp_path / "flows"
    directory.mkdir()
    (directory / "long.toml").write_text('name = "long"\n\n[[steps]]\nid = "only"\ntask = "plane.noop"\n')
    shutil.copy(ROOT / "workflows" / "user_registration.toml", directory)
    return make_settings(FLOWPLANE_WORKFLOWS__DIRECTORY=str(directory))


def test_forbid_skips_a_tick_while_the_previous_run_is_unfinished(container: Container) -> None:
    schedule = every_10m("workflow", "long", overlap=Overlap.FORBID)
    first = container.scheduling.fire(schedule, TICK)
    assert first is not None and first.outcome == "dispatched"
    second = container.scheduling.fire(schedule, TICK + timedelta(minutes=10))
    assert second is not None and second.outcome == "skipped"
    assert second.detail == f"the previous run {first.dispatched_id} is unfinished (overlap = forbid)"
    assert container.runner.cancel(str(first.dispatched_id), "done by hand")  # once it has finished ...
    third = container.scheduling.fire(schedule, TICK + timedelta(minutes=20))
    assert third is not None and third.outcome == "dispatched"  # ... the next tick runs again


def test_replace_cancels_the_previous_run_and_allow_overlaps(container: Container) -> None:
    replacing = every_10m("workflow", "long", name="replacing", overlap=Overlap.REPLACE)
    first = container.scheduling.fire(replacing, TICK)
    second = container.scheduling.fire(replacing, TICK + timedelta(minutes=10))
    assert first is not None and second is not None and second.outcome == "dispatched"
    assert second.detail == f"replaced {first.dispatched_id}"
    assert container.runner.status(str(first.dispatched_id)) == "cancelled"
    allowing = every_10m("workflow", "long", name="allowing")
    runs = [container.scheduling.fire(allowing, TICK + timedelta(minutes=10 * n)) for n in range(3)]
    assert all(run is not None and run.outcome == "dispatched" for run in runs)
    assert all(container.runner.status(str(run.dispatched_id)) == "running" for run in runs if run)


def test_forbid_with_a_task_target_waits_for_the_queued_task(container: Container) -> None:
    schedule = every_10m(overlap=Overlap.FORBID)
    first = container.scheduling.fire(schedule, TICK)
    second = container.scheduling.fire(schedule, TICK + timedelta(minutes=10))
    assert first is not None and second is not None
    assert second.outcome == "skipped" and str(first.dispatched_id) in str(second.detail)


def test_a_dispatch_that_fails_is_recorded_with_its_reason(container: Container) -> None:
    broken = every_10m("workflow", "no_such_workflow")
    fire = container.scheduling.fire(broken, TICK)
    assert fire is not None and fire.outcome == "failed" and "no_such_workflow" in str(fire.detail)


GOOD = """name = "{name}"
every = "{every}"

[target]
task = "plane.noop"
"""


def test_edits_take_effect_and_an_invalid_file_is_located_while_the_others_keep_running(
        container: Container, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from app.scheduling.catalogue import ScheduleCatalogue

    directory = tmp_path / "schedules"
    directory.mkdir()
    (directory / "a.toml").write_text(GOOD.format(name="a", every="1h"))
    (directory / "b.toml").write_text(GOOD.format(name="b", every="2h"))
    catalogue = ScheduleCatalogue(directory, tasks=container.registry.names, workflows=lambda: [],
                                  default_timezone="UTC", reload_interval=1e-9)
    scheduler = SchedulerProcess(catalogue, container.scheduling, reload_interval=1)
    scheduler.scheduler.start(paused=True)  # jobs are only replaced in a started scheduler
    scheduler.sync()
    assert {job.id for job in scheduler.scheduler.get_jobs()} == {"a", "b"}
    (directory / "a.toml").write_text(GOOD.format(name="a", every="3h"))
    (directory / "b.toml").write_text(GOOD.format(name="b", every="2 hours"))
    with caplog.at_level(logging.ERROR):
        scheduler.sync()
    assert str(scheduler.scheduler.get_job("a").trigger.interval) == "3:00:00"  # the edit took effect
    assert str(scheduler.scheduler.get_job("b").trigger.interval) == "2:00:00"  # the old b keeps running
    problems = [str(problem) for problem in catalogue.rejected()[str(directory / "b.toml")].problems]
    assert problems and problems[0].startswith(f"{directory / 'b.toml'}:2:9: every: ")
    assert "b.toml:2:9" in caplog.text
    scheduler.scheduler.shutdown()
