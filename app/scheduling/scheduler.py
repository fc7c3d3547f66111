"""``flowplane scheduler``: APScheduler 3 fires each schedule's ticks; a tick only dispatches, through
the service's claim, so any number of replicas fire each tick exactly once. At start a replica catches
up a tick it missed within the schedule's misfire grace (once, when coalescing); older ticks are
skipped, never replayed in a storm. Schedule files are re-read while it runs."""

import logging
import signal
import threading
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from app.scheduling.catalogue import ScheduleCatalogue
from app.scheduling.service import ScheduleService
from app.scheduling.spec import Schedule
from app.scheduling.ticks import ticks_between, trigger

log = logging.getLogger(__name__)
RELOAD_JOB = "flowplane.reload"


class SchedulerProcess:
    def __init__(self, catalogue: ScheduleCatalogue, service: ScheduleService, *, reload_interval: float) -> None:
        self.catalogue = catalogue
        self.service = service
        self._reload_interval = max(reload_interval, 0.2)
        self._versions: dict[str, str] = {}  # schedule -> version its job was made from
        self._handled: dict[str, datetime] = {}  # schedule -> the last tick this process looked at
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.scheduler = BackgroundScheduler(timezone=UTC, executors={"default": ThreadPoolExecutor(8)})

    def run(self) -> None:
        """Fire ticks until SIGTERM or SIGINT."""
        for caught in (signal.SIGTERM, signal.SIGINT):
            signal.signal(caught, lambda *_: self._stop.set())
        self.scheduler.start()
        self.sync()
        self.scheduler.add_job(self.sync, IntervalTrigger(seconds=self._reload_interval), id=RELOAD_JOB,
                               coalesce=True, max_instances=1)
        log.info("scheduler started (replica %s, %d schedule(s))", self.service.replica, len(self._versions))
        self._stop.wait()
        self.scheduler.shutdown(wait=True)
        log.info("scheduler stopped")

    def stop(self) -> None:
        self._stop.set()

    def sync(self) -> None:
        """Make the jobs match the files: new and edited schedules (re)scheduled, removed ones dropped."""
        current = {name: schedule for name, schedule in self.catalogue.current().items() if schedule.enabled}
        for name in set(self._versions) - set(current):
            self.scheduler.remove_job(name)
            del self._versions[name]
            log.info("schedule %s removed or disabled", name)
        for name, schedule in current.items():
            if self._versions.get(name) == schedule.version:
                continue
            first = name not in self._versions
            self.scheduler.add_job(self._tick, trigger(schedule), args=[name], id=name, replace_existing=True,
                                   misfire_grace_time=int(schedule.misfire_grace.total_seconds()) or 1,
                                   coalesce=schedule.coalesce, max_instances=3)
            self._versions[name] = schedule.version
            log.info("schedule %s %s (%s)", name, "scheduled" if first else "rescheduled",
                     schedule.cron or f"every {schedule.every}")
            if first:
                self.catch_up(schedule)
                with self._lock:
                    self._handled[name] = datetime.now(UTC)

    def catch_up(self, schedule: Schedule, now: datetime | None = None) -> list[Any]:
        """Fire the ticks missed within the grace that no replica fired: the latest only when coalescing."""
        now = now or datetime.now(UTC)
        missed = ticks_between(schedule, now - schedule.misfire_grace, now)
        missed = [tick for tick in missed if not self.service.claimed(schedule.name, tick)]
        fired = [self.service.fire(schedule, tick, "catch_up") for tick in (missed[-1:] if schedule.coalesce
                                                                             else missed)]
        return [fire for fire in fired if fire is not None]

    def _tick(self, name: str) -> None:
        """Fire the ticks due since this process last looked (a job that ran a little late still fires the
        tick it was for: the time comes from the schedule, not from the clock at the moment it runs)."""
        try:
            schedule = self.catalogue.current().get(name)
            if schedule is None:
                return
            now = datetime.now(UTC)
            with self._lock:
                since = max(self._handled.get(name, now - schedule.misfire_grace), now - schedule.misfire_grace)
                due = ticks_between(schedule, since, now)
                if due:
                    self._handled[name] = due[-1]
            for tick in due[-1:] if schedule.coalesce else due:
                self.service.fire(schedule, tick)
        except Exception:  # one schedule's failure never stops the others
            log.exception("schedule %s: tick failed", name)
