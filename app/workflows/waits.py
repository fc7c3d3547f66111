"""The arithmetic of waits, pure: when a timer falls due, and the key that matches an awaited event to the
steps parked for it (a digest of the event type and the matched payload values, so one index probe finds them)."""

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.durations import parse_duration
from app.workflows.spec import Step


def due_time(step: Step, rendered_until: Any, now: datetime) -> datetime:
    """When a timer step falls due: `wait` after ``now``, or the time or duration `until` rendered to.
    ValueError names what was wrong with a rendered `until`."""
    if step.wait is not None:
        return now + step.wait
    if isinstance(rendered_until, datetime):
        moment = rendered_until
    elif isinstance(rendered_until, str) and rendered_until.strip():
        text = rendered_until.strip()
        try:
            return now + parse_duration(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"until: expected an ISO 8601 time with its offset or a duration, got {text!r}") from None
    else:
        raise ValueError(f"until: expected an ISO 8601 time or a duration, got {rendered_until!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"until: {moment.isoformat()} has no UTC offset; write it like 2026-12-24T18:00:00+01:00")
    return moment


def timeout_time(step: Step, now: datetime) -> datetime | None:
    return now + step.timeout if step.timeout is not None else None


def fields_of(step: Step) -> str:
    """The shape of a wait_for step's match: its field names, sorted, comma-separated."""
    return ",".join(sorted(step.match_fields))


def match_key(event_type: str, values: Mapping[str, Any]) -> str:
    """The same for a parked step's rendered match values and for an event whose payload carries them."""
    canonical = json.dumps([event_type, sorted(values.items())], separators=(",", ":"), ensure_ascii=False,
                           default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def iso(moment: datetime) -> str:
    return moment.isoformat()



