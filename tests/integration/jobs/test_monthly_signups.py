"""``reports.monthly_signups`` on a real database: the numbers, the timezone, the file, and re-runs."""

import csv
import io
import json
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import Session, select

from app.bootstrap import Container
from app.db.models import EventCount, Report, User
from app.handlers.reports import previous_month
from app.plane.tasks.registry import PermanentError
from tests.integration.jobs.conftest import RunTask

TASK = "reports.monthly_signups"
ZONES = ["UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati"]


def _add_users(container: Container, instants: list[datetime]) -> list[str]:
    emails = [f"signup-{uuid.uuid4().hex}@example.com" for _ in instants]
    with Session(container.engine) as session, session.begin():
        session.add_all(User(email=email, name="Secret Name", password_hash="x", created_at=instant)
                        for email, instant in zip(emails, instants, strict=True))
    return emails


def _read(container: Container, report_id: str) -> tuple[Report, list[dict[str, str]]]:
    with Session(container.engine) as session:
        report = session.get(Report, report_id)
    assert report is not None
    return report, list(csv.DictReader(io.StringIO(Path(report.path).read_text())))


def _per_day(rows: list[dict[str, str]], column: str = "signups") -> dict[str, int]:
    return {row["day"]: int(row[column]) for row in rows if row["day"] != "total" and int(row[column])}


SEEDED = [
    datetime(2026, 9, 30, 21, 59, 59, tzinfo=UTC),  # Paris 30 Sep 23:59:59 (summer time, +2): September
    datetime(2026, 9, 30, 22, 0, 0, tzinfo=UTC),  # Paris 1 Oct 00:00: October
    datetime(2026, 10, 15, 12, 0, tzinfo=UTC),
    datetime(2026, 10, 15, 13, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # Paris 02:30 summer time ...
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # ... and 02:30 again, winter time: both 25 Oct
    datetime(2026, 10, 31, 22, 59, 59, tzinfo=UTC),  # Paris's last second of October (+1)
    datetime(2026, 10, 31, 23, 30, tzinfo=UTC),  # Paris 1 Nov 00:30; UTC 31 Oct
    datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC),  # UTC's last second of October
    datetime(2026, 11, 1, 0, 0, 0, tzinfo=UTC),  # November everywhere west of Paris+1
]


def test_the_report_counts_what_was_seeded_in_the_timezone_asked(container: Container, run_task: RunTask) -> None:
    # Given users around October's edges, and event counts inside and outside October (per UTC day)
    emails = _add_users(container, SEEDED)
    with Session(container.engine) as session, session.begin():
        session.add_all([EventCount(event_type="user.created", day=date(2026, 10, 1), count=3),
                         EventCount(event_type="user.created", day=date(2026, 10, 31), count=2),
                         EventCount(event_type="user.created", day=date(2026, 11, 1), count=7),
                         EventCount(event_type="user.created", day=date(2026, 9, 30), count=4),
                         EventCount(event_type="session.opened", day=date(2026, 10, 15), count=5)])

    # When October is reported in Paris
    result = run_task(TASK, {"month": "2026-10", "timezone": "Europe/Paris"})

    # Then each signup is on its Paris day; events are summed per type over October's dates
    assert result["period"] == "2026-10" and result["total"] == 6
    report, rows = _read(container, str(result["report_id"]))
    assert list(rows[0]) == ["day", "signups", "session.opened", "user.created"]
    assert len(rows) == 32 and rows[0]["day"] == "2026-10-01" and rows[30]["day"] == "2026-10-31"
    assert _per_day(rows) == {"2026-10-01": 1, "2026-10-15": 2, "2026-10-25": 2, "2026-10-31": 1}
    assert _per_day(rows, "user.created") == {"2026-10-01": 3, "2026-10-31": 2}
    assert _per_day(rows, "session.opened") == {"2026-10-15": 5}
    assert rows[-1] == {"day": "total", "signups": "6", "session.opened": "5", "user.created": "5"}
    assert (report.kind, report.period, report.timezone, report.rows) == ("monthly_signups", "2026-10",
                                                                          "Europe/Paris", 31)
    assert json.loads(report.summary) == {"signups": 6, "events": {"session.opened": 5, "user.created": 5},
                                          "event_days": "UTC"}
    assert Path(report.path).name == "signups-2026-10-Europe_Paris.csv"
    text = Path(report.path).read_text()
    assert "Secret Name" not in text and not any(email in text for email in emails)

    # In UTC the same month holds other users: the 30 Sep 22:00 one is out, both 31 Oct late ones are in
    utc = run_task(TASK, {"month": "2026-10", "timezone": "UTC"})
    assert utc["total"] == 7 and utc["report_id"] != result["report_id"]
    _, utc_rows = _read(container, str(utc["report_id"]))
    assert _per_day(utc_rows) == {"2026-10-15": 2, "2026-10-25": 2, "2026-10-31": 3}
    # And November in Paris starts with the three users of 31 Oct 23:00 UTC onwards
    november = run_task(TASK, {"month": "2026-11", "timezone": "Europe/Paris"})
    assert november["total"] == 3 and _per_day(_read(container, str(november["report_id"]))[1]) == {"2026-11-01": 3}


def test_a_rerun_replaces_the_report_and_another_timezone_is_another_report(container: Container,
                                                                            run_task: RunTask) -> None:
    _add_users(container, [datetime(2026, 3, 10, 12, tzinfo=UTC)])
    first = run_task(TASK, {"month": "2026-03", "timezone": "Asia/Kolkata"})
    report, _ = _read(container, str(first["report_id"]))

    # A user arrives and the job runs again (a retry, a manual run, a second tick)
    _add_users(container, [datetime(2026, 3, 11, 12, tzinfo=UTC)])
    second = run_task(TASK, {"month": "2026-03", "timezone": "Asia/Kolkata"})

    assert second == {"report_id": first["report_id"], "period": "2026-03", "total": 2}
    rerun, rows = _read(container, str(second["report_id"]))
    assert rerun.path == report.path and rerun.created_at >= report.created_at and rows[-1]["signups"] == "2"
    with Session(container.engine) as session:
        assert len(session.exec(select(Report)).all()) == 1
    assert sorted(p.name for p in Path(report.path).parent.iterdir()) == ["signups-2026-03-Asia_Kolkata.csv"]

    other = run_task(TASK, {"month": "2026-03", "timezone": "America/Los_Angeles"})
    assert other["report_id"] != first["report_id"]
    with Session(container.engine) as session:
        assert len(session.exec(select(Report)).all()) == 2


def test_defaults_are_last_month_in_the_configured_timezone(container: Container, run_task: RunTask) -> None:
    before = previous_month(datetime.now(UTC), ZoneInfo("UTC"))
    result = run_task(TASK, {})
    assert result["period"] in {before, previous_month(datetime.now(UTC), ZoneInfo("UTC"))}
    report, _ = _read(container, str(result["report_id"]))
    assert report.timezone == container.settings.scheduler.timezone == "UTC"


@pytest.mark.parametrize("payload", [{"month": "2026-13"}, {"month": "October"}, {"timezone": "Mars/Base"}])
def test_a_malformed_payload_fails_permanently(run_task: RunTask, payload: dict[str, str]) -> None:
    with pytest.raises(PermanentError):
        run_task(TASK, payload)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tz=st.sampled_from(ZONES),
       instants=st.lists(st.datetimes(min_value=datetime(2026, 2, 27), max_value=datetime(2026, 4, 2),
                                      timezones=st.sampled_from([ZoneInfo(name) for name in ZONES])), max_size=12))
def test_per_day_counts_from_the_database_match_a_reference(container: Container, run_task: RunTask, tz: str,
                                                            instants: list[datetime]) -> None:
    # March 2026: the US and the EU both change clocks in it
    with Session(container.engine) as session, session.begin():
        session.execute(delete(User))
    _add_users(container, instants)
    result = run_task(TASK, {"month": "2026-03", "timezone": tz})
    local = Counter(instant.astimezone(ZoneInfo(tz)).date() for instant in instants)
    expected = {day.isoformat(): n for day, n in local.items() if (day.year, day.month) == (2026, 3)}
    _, rows = _read(container, str(result["report_id"]))
    assert _per_day(rows) == expected and result["total"] == sum(expected.values())
    assert [row["day"] for row in rows[:-1]] == [(date(2026, 3, 1) + timedelta(days=n)).isoformat() for n in range(31)]
