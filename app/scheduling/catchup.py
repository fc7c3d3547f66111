"""Which ticks a scheduler replica fires when it looks at a schedule: at its first look (start, or a new
file) the ones it missed, later the ones due since its last look. Pure: the claims make each tick fire once,
this rule makes sure a replica never reaches for a tick that is not owed any more."""

from datetime import datetime, timedelta

from app.scheduling.spec import Schedule
from app.scheduling.ticks import ticks_between

_JUST_BEFORE = timedelta(microseconds=1)  # ticks_between is (after, until]: a tick at first_seen itself counts


def owed(schedule: Schedule, now: datetime, *, first_seen: datetime, handled: datetime | None,
         last_fired: datetime | None) -> list[datetime]:
    """The ticks to fire now, oldest first: within the misfire grace before ``now``, none from before the
    schedule was first seen, after the ones this process already ``handled``, and after the last tick any
    replica fired (so a replica that starts late never reaches back past a later fire); the latest only
    when coalescing."""
    after = max(now - schedule.misfire_grace, first_seen - _JUST_BEFORE)
    for bound in (handled, last_fired):
        if bound is not None:
            after = max(after, bound)
    ticks = ticks_between(schedule, after, now)
    return ticks[-1:] if schedule.coalesce else ticks
