"""When a schedule fires: APScheduler 3's triggers, anchored so that every replica computes the same
ticks (an interval counts from a fixed epoch, not from when a process started)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app.scheduling.spec import Schedule

EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday, midnight UTC: intervals tick at the same instants everywhere
_MAX_TICKS = 100_000  # a bound on any look-back, so no setting can make one loop unbounded


def trigger(schedule: Schedule) -> BaseTrigger:
    zone = ZoneInfo(schedule.timezone)
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=zone)
    assert schedule.every is not None
    return IntervalTrigger(seconds=schedule.every.total_seconds(), start_date=EPOCH.astimezone(zone), timezone=zone)


def ticks_between(schedule: Schedule, after: datetime, until: datetime) -> list[datetime]:
    """The fire times in (after, until], oldest first, in UTC."""
    rule = trigger(schedule)
    ticks: list[datetime] = []
    tick = rule.get_next_fire_time(None, after + timedelta(microseconds=1))
    while tick is not None and tick <= until and len(ticks) < _MAX_TICKS:
        ticks.append(tick.astimezone(UTC))
        tick = rule.get_next_fire_time(tick, tick + timedelta(microseconds=1))
    return ticks


def latest_tick(schedule: Schedule, now: datetime) -> datetime | None:
    """The tick a job started now is running for: the last one at or before ``now`` within the grace."""
    ticks = ticks_between(schedule, now - schedule.misfire_grace, now)
    return ticks[-1] if ticks else None


def next_tick(schedule: Schedule, now: datetime) -> datetime | None:
    tick = trigger(schedule).get_next_fire_time(None, now + timedelta(microseconds=1))
    return tick.astimezone(UTC) if tick is not None else None
