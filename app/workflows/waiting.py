"""What a parked step waits for, in words for people: the dashboard and the CLI say it the same way. Pure: the
caller passes the step's ``waiting`` view (see views.step_view) and the time it is now, from the container's clock."""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def moment(value: str | datetime) -> str:
    """``2026-12-05 12:00 UTC`` (seconds only when they are not zero: a 30 s wait shows them)."""
    at = (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC" if at.second else "%Y-%m-%d %H:%M UTC")


def relative(value: str | datetime, now: datetime) -> str:
    """``in 2 d 23 h``: the two largest units, rounded down; ``due now`` once the time has come."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    left = int((at - now).total_seconds())
    if left <= 0:
        return "due now"
    parts: list[tuple[int, str]] = []
    for unit, seconds in _UNITS:
        count, left = divmod(left, seconds)
        if count or parts:
            parts.append((count, unit))
    shown = [f"{count} {unit}" for count, unit in parts[:2] if count]
    return f"in {' '.join(shown)}"


def _match(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{field} = {json.dumps(value, ensure_ascii=False, default=str)}"
                     for field, value in sorted(values.items()))


def describe(waiting: Mapping[str, Any], now: datetime) -> str:
    """``waits until 2026-12-05 12:00 UTC (in 2 d 23 h)``, or ``waits for user.email_verified where
    user_id = "…", until 2026-12-04 12:00 UTC (in 1 d 23 h)``. Match values are user data: escape them."""
    if "until" in waiting:
        return f"waits until {moment(waiting['until'])} ({relative(waiting['until'], now)})"
    text = f"waits for {waiting['event']}"
    if waiting.get("match"):
        text += f" where {_match(waiting['match'])}"
    elif waiting.get("match") is None:
        text += " (its match values are not known: the run's definition is not stored)"
    timeout = waiting.get("timeout_at")
    return f"{text}, until {moment(timeout)} ({relative(timeout, now)})" if timeout else f"{text}, with no time-out"


def short(waiting: Mapping[str, Any]) -> str:
    """A few words for a small box: ``until 2026-12-05 12:00`` (UTC) or ``for user.email_verified``."""
    if "until" in waiting:
        return f"until {datetime.fromisoformat(waiting['until']).astimezone(UTC):%Y-%m-%d %H:%M}"
    return f"for {waiting['event']}"
