"""The monthly report's date maths: a month in a timezone, and signups bucketed by their local date."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.handlers.reports import file_name, month_bounds, month_days, previous_month, render_csv, signups_per_day, zone

ZONES = [ZoneInfo(name) for name in
         ("UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati")]
# Zones whose DST starts or ends at midnight, or that skipped a whole day (Kiritimati 1994, Apia 2011).
ODD_ZONES = ZONES + [ZoneInfo(name) for name in
                     ("America/Santiago", "America/Sao_Paulo", "America/Havana", "Asia/Beirut", "Asia/Tehran",
                      "Pacific/Apia", "Australia/Lord_Howe", "Africa/Casablanca")]


@st.composite
def month_and_instants(draw: st.DrawFn, zones: list[ZoneInfo], max_size: int = 40) -> tuple[str, list[datetime]]:
    """A month and instants from two days before it to two days after, written in any of ``zones``."""
    year, number = draw(st.integers(1970, 2060)), draw(st.integers(1, 12))
    first = datetime(year, number, 1)
    instants = draw(st.lists(st.datetimes(min_value=first - timedelta(days=2), max_value=first + timedelta(days=33),
                                          timezones=st.sampled_from(zones)), max_size=max_size))
    return f"{year:04d}-{number:02d}", instants


def reference_per_day(instants: list[datetime], month: str, tz: ZoneInfo) -> dict[date, int]:
    """Independently: every date whose year-month is ``month``, counting instants converted with zoneinfo."""
    counts = Counter(instant.astimezone(tz).date() for instant in instants)
    year, number = map(int, month.split("-"))
    days, day = {}, date(year, number, 1)
    while day.month == number:
        days[day] = counts[day]
        day += timedelta(days=1)
    return days


@settings(max_examples=300, deadline=None)
@given(case=month_and_instants(ZONES), tz=st.sampled_from(ZONES))
def test_signups_per_day_matches_a_reference(case: tuple[str, list[datetime]], tz: ZoneInfo) -> None:
    month, instants = case
    assert signups_per_day(instants, month, tz) == reference_per_day(instants, month, tz)


@settings(max_examples=300, deadline=None)
@given(case=month_and_instants(ODD_ZONES, max_size=10), tz=st.sampled_from(ODD_ZONES))
def test_month_bounds_hold_exactly_the_instants_of_the_month(case: tuple[str, list[datetime]], tz: ZoneInfo) -> None:
    month, instants = case
    start, end = month_bounds(month, tz)
    assert start.tzinfo is UTC and end.tzinfo is UTC and start < end
    for instant in instants:
        assert (start <= instant < end) == (f"{instant.astimezone(tz):%Y-%m}" == month), instant


@pytest.mark.parametrize(("month", "tz", "start", "end"), [
    ("2026-10", "UTC", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
    # Paris leaves summer time inside October: +2 at the start, +1 at the end
    ("2026-10", "Europe/Paris", datetime(2026, 9, 30, 22, tzinfo=UTC), datetime(2026, 10, 31, 23, tzinfo=UTC)),
    ("2026-03", "America/Los_Angeles", datetime(2026, 3, 1, 8, tzinfo=UTC), datetime(2026, 4, 1, 7, tzinfo=UTC)),
    ("2026-02", "Asia/Kolkata", datetime(2026, 1, 31, 18, 30, tzinfo=UTC), datetime(2026, 2, 28, 18, 30, tzinfo=UTC)),
    ("2026-12", "Pacific/Kiritimati", datetime(2026, 11, 30, 10, tzinfo=UTC), datetime(2026, 12, 31, 10, tzinfo=UTC)),
    # Kiritimati skipped 1994-12-31: December ended at the jump from -10 to +14
    ("1994-12", "Pacific/Kiritimati", datetime(1994, 12, 1, 10, tzinfo=UTC), datetime(1994, 12, 31, 10, tzinfo=UTC)),
])
def test_month_bounds_examples(month: str, tz: str, start: datetime, end: datetime) -> None:
    assert month_bounds(month, ZoneInfo(tz)) == (start, end)


def test_a_user_at_2330_utc_on_31_october_is_1_november_in_paris() -> None:
    instants = [datetime(2026, 10, 31, 23, 30, tzinfo=UTC), datetime(2026, 10, 31, 22, 59, 59, tzinfo=UTC)]
    paris = signups_per_day(instants, "2026-10", ZoneInfo("Europe/Paris"))
    assert paris[date(2026, 10, 31)] == 1 and sum(paris.values()) == 1
    assert signups_per_day(instants, "2026-11", ZoneInfo("Europe/Paris"))[date(2026, 11, 1)] == 1
    assert signups_per_day(instants, "2026-10", ZoneInfo("UTC"))[date(2026, 10, 31)] == 2


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        signups_per_day([datetime(2026, 10, 3)], "2026-10", ZoneInfo("UTC"))


@pytest.mark.parametrize(("now", "tz", "expected"), [
    (datetime(2026, 11, 1, 0, 30, tzinfo=UTC), "UTC", "2026-10"),
    (datetime(2026, 10, 31, 23, 30, tzinfo=UTC), "Europe/Paris", "2026-10"),  # already 1 November in Paris
    (datetime(2026, 10, 31, 23, 30, tzinfo=UTC), "UTC", "2026-09"),
    (datetime(2027, 1, 15, tzinfo=UTC), "Asia/Kolkata", "2026-12"),
])
def test_previous_month_is_read_on_the_zone_s_calendar(now: datetime, tz: str, expected: str) -> None:
    assert previous_month(now, ZoneInfo(tz)) == expected


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "26-01", "2026-10x", "", "0000-01", "9999-12"])
def test_malformed_months_are_refused(month: str) -> None:
    with pytest.raises(ValueError, match="month must look like"):
        month_days(month)


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "Europe/"])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown timezone"):
        zone(name)


def test_the_csv_has_a_row_per_day_a_column_per_event_type_and_a_total() -> None:
    signups = {date(2026, 2, 1): 2, date(2026, 2, 2): 0}
    events = {"user.created": {date(2026, 2, 1): 2}, "a.first": {date(2026, 2, 2): 5}}
    assert render_csv(signups, events) == (
        "day,signups,a.first,user.created\n2026-02-01,2,0,2\n2026-02-02,0,5,0\ntotal,2,5,2\n")
    assert file_name("2026-10", ZoneInfo("Europe/Paris")) == "signups-2026-10-Europe_Paris.csv"
    assert file_name("2026-10", ZoneInfo("Etc/GMT+5")) == "signups-2026-10-Etc_GMT+5.csv"
