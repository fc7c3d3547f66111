"""What operators read about schedules, as JSON-ready dicts for the API and the CLI."""

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from app.db.models import ScheduleFire
from app.durations import format_duration
from app.scheduling.service import ScheduleService, fire_view
from app.scheduling.spec import Schedule
from app.scheduling.ticks import next_tick


def schedule_view(schedule: Schedule, service: ScheduleService, now: datetime | None = None) -> dict[str, Any]:
    paused = service.paused(schedule.name)
    upcoming = next_tick(schedule, now or datetime.now(UTC)) if schedule.enabled and not paused else None
    with Session(service.engine) as db:
        last = db.execute(select(ScheduleFire).where(col(ScheduleFire.schedule) == schedule.name)
                          .order_by(col(ScheduleFire.scheduled_at).desc()).limit(1)).scalars().first()
    return {"name": schedule.name, "description": schedule.description, "cron": schedule.cron,
            "every": format_duration(schedule.every) if schedule.every else None, "timezone": schedule.timezone,
            "target": {"kind": schedule.target_kind, "name": schedule.target, "payload": schedule.payload},
            "enabled": schedule.enabled, "paused": paused, "overlap": schedule.overlap.value,
            "misfire_grace": format_duration(schedule.misfire_grace), "coalesce": schedule.coalesce,
            "next_fire": upcoming.isoformat() if upcoming else None,
            "last_fire": fire_view(last) if last else None, "file": schedule.path, "version": schedule.version}
