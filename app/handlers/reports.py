"""``reports.monthly_signups``: signups per day of one calendar month in one timezone, with that month's event
counts, written as a CSV file and recorded as a Report row.

One report per (month, timezone): a re-run rewrites the file and updates the same row, never adds one.
Only timestamps are read from ``users``: no email or name can reach the file."""

import contextlib
import csv
import io
import json
import os
import re
import tempfile
import uuid
from calendar import monthrange
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from app.db.models import EventCount, Report, User
from app.plane.tasks.registry import PermanentError, TaskContext

KIND = "monthly_signups"
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_YEARS = range(1900, 9999)  # inside datetime's range even after a ±1 day margin and any UTC offset


# -- date maths (pure) ---------------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError for an unknown or malformed one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}; expected an IANA name like Europe/Paris") from None


def month_days(month: str) -> list[date]:
    """Every calendar day of ``month`` ("YYYY-MM")."""
    match = _MONTH.fullmatch(month)
    if match is None or int(match[1]) not in _YEARS:
        raise ValueError(f"month must look like 2026-10 (years {_YEARS.start}-{_YEARS.stop - 1}), got {month!r}")
    year, number = int(match[1]), int(match[2])
    return [date(year, number, day) for day in range(1, monthrange(year, number)[1] + 1)]


def previous_month(now: datetime, tz: ZoneInfo) -> str:
    """The month before the one ``now`` falls in, on the calendar of ``tz``."""
    return f"{now.astimezone(tz).date().replace(day=1) - timedelta(days=1):%Y-%m}"


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) whose local date in ``tz`` falls in ``month``.

    Local midnight with fold=0 is the first instant of a day even when DST skips or repeats midnight: a skipped
    midnight resolves to the transition itself, a repeated one to its first occurrence."""
    days = month_days(month)
    start = datetime.combine(days[0], time(), tz)
    end = datetime.combine(days[-1] + timedelta(days=1), time(), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def signups_per_day(created_ats: Iterable[datetime], month: str, tz: ZoneInfo) -> dict[date, int]:
    """Instants bucketed by their local date in ``tz``: every day of ``month`` (zeros included), nothing else."""
    counts: Counter[date] = Counter()
    for instant in created_ats:
        if instant.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass aware ones")
        counts[instant.astimezone(tz).date()] += 1
    return {day: counts[day] for day in month_days(month)}


def render_csv(signups: Mapping[date, int], events: Mapping[str, Mapping[date, int]]) -> str:
    """day, signups, one column per event type; one row per day, then a total row."""
    types = sorted(events)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", "signups", *types])
    for day, count in signups.items():
        writer.writerow([day.isoformat(), count, *(events[kind].get(day, 0) for kind in types)])
    writer.writerow(["total", sum(signups.values()), *(sum(events[kind].values()) for kind in types)])
    return out.getvalue()


def file_name(month: str, tz: ZoneInfo) -> str:
    return f"signups-{month}-{re.sub(r'[^A-Za-z0-9+-]', '_', tz.key)}.csv"


# -- the task ------------------------------------------------------------------------------------------


def monthly_signups(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    settings = context.services.settings
    try:
        tz = zone(str(payload.get("timezone") or settings.scheduler.timezone))
        month = str(payload.get("month") or previous_month(datetime.now(UTC), tz))
        month_days(month)
    except ValueError as exc:
        raise PermanentError(str(exc)) from None
    report_id, total = write_report(context.services.engine, Path(settings.scheduler.reports_dir), month, tz)
    return {"report_id": report_id, "period": month, "total": total}


def write_report(engine: Engine, directory: Path, month: str, tz: ZoneInfo) -> tuple[str, int]:
    """Compute, write the CSV atomically, then upsert the row; the report's id and its signup total."""
    signups, events = _counts(engine, month, tz)
    path = (directory / file_name(month, tz)).resolve()
    _write_atomically(path, render_csv(signups, events))
    total = sum(signups.values())
    summary = {"signups": total, "events": {kind: sum(days.values()) for kind, days in sorted(events.items())},
               "event_days": "UTC"}
    return _upsert(engine, month, tz.key, path=str(path), rows=len(signups), summary=summary), total


def _counts(engine: Engine, month: str, tz: ZoneInfo) -> tuple[dict[date, int], dict[str, dict[date, int]]]:
    start, end = month_bounds(month, tz)
    days = month_days(month)
    # A day's margin on each side costs nothing and keeps zones whose clocks went back across midnight exact:
    # signups_per_day decides by local date.
    created = select(col(User.created_at)).where(col(User.created_at) >= start - timedelta(days=1),
                                                 col(User.created_at) < end + timedelta(days=1))
    # event_counts is kept per UTC day: the report takes the UTC days that bear the month's dates.
    counted = select(col(EventCount.event_type), col(EventCount.day), col(EventCount.count)).where(
        col(EventCount.day) >= days[0], col(EventCount.day) <= days[-1])
    with Session(engine) as session:
        signups = signups_per_day(session.execute(created).scalars(), month, tz)
        events: dict[str, dict[date, int]] = {}
        for event_type, day, count in session.execute(counted):
            events.setdefault(event_type, {})[day] = count
    return signups, events


def _write_atomically(path: Path, text: str) -> None:
    # A reader (the download endpoint) sees the old file or the new one, never half of one.
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; the API may run as another user. Counts only.
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _upsert(engine: Engine, month: str, timezone: str, *, path: str, rows: int, summary: dict[str, Any]) -> str:
    table = Report.__table__  # type: ignore[attr-defined]
    changes = {"path": path, "rows": rows, "summary": json.dumps(summary, sort_keys=True),
               "created_at": datetime.now(UTC)}
    key = {"kind": KIND, "period": month, "timezone": timezone}
    with engine.begin() as connection:
        insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
        # One statement: two concurrent runs for the same month both land on the one row, which keeps its id.
        statement = insert(table).values(id=uuid.uuid4().hex, **key, **changes)
        connection.execute(statement.on_conflict_do_update(index_elements=list(key), set_=changes))
        found = connection.execute(select(table.c.id).filter_by(**key)).scalar_one()
    return str(found)


# -- reading, for the API ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    filename: str
    content: bytes


def page(engine: Engine, *, offset: int = 0, limit: int = 50) -> tuple[int, list[Report]]:
    """Reports, newest first, and how many there are."""
    with Session(engine) as session:
        total = session.execute(select(func.count()).select_from(Report)).scalar_one()
        query = select(Report).order_by(col(Report.created_at).desc(), col(Report.id)).offset(offset).limit(limit)
        return int(total), list(session.execute(query).scalars())


def download(engine: Engine, report_id: str) -> Download | None:
    """The report's CSV, or None when the row or its file is gone."""
    with Session(engine) as session:
        report = session.get(Report, report_id)
    if report is None:
        return None
    try:
        content = Path(report.path).read_bytes()  # small: a line per day
    except FileNotFoundError:
        return None
    return Download(filename=Path(report.path).name, content=content)
