"""A run's steps on one time axis, for SVG: the wait from ready to started, then the work until finished."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

LABEL, PLOT, ROW, PAD = 150, 480, 26, 6


@dataclass(frozen=True)
class Lane:
    step: str
    status: str
    y: int
    wait_x: float  # ready -> started (or finished, for steps that never "start": events, skips)
    wait_width: float
    work_x: float  # started -> finished (or now, while running)
    work_width: float
    parked: str = ""  # a wait step that has started: what it waits for (its bar runs from ready to now)


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    label_width: int
    lanes: list[Lane]
    span_seconds: float


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def lay_out(steps: Sequence[dict[str, Any]], now: datetime | None = None,
            parked: Mapping[str, str] | None = None) -> Timeline | None:
    """None when no step has become ready yet. ``parked``: step -> what it waits for, for waits that started."""
    now = now or datetime.now(UTC)
    moments = [moment for step in steps for moment in
               (_at(step["ready_at"]), _at(step["started_at"]), _at(step["finished_at"])) if moment]
    if not moments:
        return None
    in_flight = any((s["ready_at"] or s["started_at"]) and not s["finished_at"] for s in steps)
    start, end = min(moments), max([*moments, *([now] if in_flight else [])])
    span = max((end - start).total_seconds(), 0.001)

    def x(moment: datetime) -> float:
        return round(LABEL + PLOT * (moment - start).total_seconds() / span, 2)

    lanes = []
    for index, step in enumerate(steps):
        ready, started, finished = _at(step["ready_at"]), _at(step["started_at"]), _at(step["finished_at"])
        if ready is None and finished is None:
            continue
        begin = ready or finished or now
        work_from = started or finished or now
        work_to = finished or now
        lanes.append(Lane(step=step["id"], status=step["status"], y=PAD + index * ROW,
                          wait_x=x(begin), wait_width=max(x(work_from) - x(begin), 0.0),
                          work_x=x(work_from), work_width=max(x(work_to) - x(work_from), 2.0),
                          parked=(parked or {}).get(step["id"], "")))
    return Timeline(width=LABEL + PLOT + PAD, height=2 * PAD + len(steps) * ROW, label_width=LABEL, lanes=lanes,
                    span_seconds=round(span, 3))
