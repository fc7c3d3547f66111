"""``flowplane scheduler``: APScheduler 3 wakes the process at each schedule's ticks; what fires is decided
by :func:`~app.scheduling.catchup.owed` and claimed through the service, so any number of replicas fire each
tick exactly once. At its first look at a schedule (start, or a new file) a replica catches up what was missed
within the misfire grace since the schedule was first seen (the latest tick only, when coalescing, and none
if a later one fired); older ticks are skipped, never replayed in a storm. Schedule files are re-read while
it runs."""

import logging
import signal
import threading
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from app.db.models import ScheduleFire
from app.scheduling.catalogue import ScheduleCatalogue
from app.scheduling.catchup import owed
from app.scheduling.service import ScheduleService
from app.scheduling.spec import Schedule
from app.scheduling.ticks import trigger

log = logging.getLogger(__name__)
RELOAD_JOB = "flowplane.reload"


class SchedulerProcess:
    def __init__(self, catalogue: ScheduleCatalogue, service: ScheduleService, *, reload_interval: float) -> None:
        self.catalogue = catalogue
        self.service = service
        self._reload_interval = max(reload_interval, 0.2)
        self._versions: dict[str, str] = {}  # schedule -> version its job was made from
        self._handled: dict[str, datetime] = {}  # schedule -> up to when this process decided its ticks
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
            with self._lock:
                self._handled.pop(name, None)  # added back, it is looked at afresh, as after a restart
            log.info("schedule %s removed or disabled", name)
        for name, schedule in current.items():
            if self._versions.get(name) == schedule.version:
                continue
            first = name not in self._versions
            # APScheduler only wakes the process, once however late: the ticks a late wake-up owes are decided
            # by `owed` alone, so its own misfire grace and coalescing never replay ticks beside it.
            self.scheduler.add_job(self._tick, trigger(schedule), args=[name], id=name, replace_existing=True,
                                   misfire_grace_time=None, coalesce=True, max_instances=3)
            self._versions[name] = schedule.version
            log.info("schedule %s %s (%s)", name, "scheduled" if first else "rescheduled",
                     schedule.cron or f"every {schedule.every}")
            if first:
                try:
                    self.catch_up(schedule)
                except Exception:  # its next tick looks again; the other schedules go on
                    log.exception("schedule %s: catching up failed", name)

    def catch_up(self, schedule: Schedule, now: datetime | None = None) -> list[ScheduleFire]:
        """Look at ``schedule`` now: at the first look, fire what was missed (see the module's docstring)."""
        return self._fire_owed(schedule, now or datetime.now(UTC))

    def _tick(self, name: str) -> None:
        """Fire the ticks due since this process last looked (a job that ran a little late still fires the
        tick it was for: the time comes from the schedule, not from the clock at the moment it runs)."""
        try:
            schedule = self.catalogue.current().get(name)
            if schedule is not None:
                self._fire_owed(schedule, datetime.now(UTC))
        except Exception:  # one schedule's failure never stops the others
            log.exception("schedule %s: tick failed", name)

    def _fire_owed(self, schedule: Schedule, now: datetime) -> list[ScheduleFire]:
        with self._lock:  # one decision at a time, so two wake-ups never both take the same ticks
            handled = self._handled.get(schedule.name)
            since = self.service.first_seen(schedule.name, now) if handled is None else handled
            due = owed(schedule, now, first_seen=since, handled=handled,
                       last_fired=self.service.last_fired(schedule.name))
            self._handled[schedule.name] = max(now, handled or now)
        trigger = "catch_up" if handled is None else "cron"
        fired = [self.service.fire(schedule, tick, trigger) for tick in due]
        return [fire for fire in fired if fire is not None]
