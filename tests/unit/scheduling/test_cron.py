from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scheduling import cron
from app.scheduling.loader import load_text

NUMERIC = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12))
ZONES = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
MOMENTS = st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1))


@st.composite
def numeric_item(draw: st.DrawFn, low: int, high: int) -> str:
    """One valid item of a numeric field: *, */step, n, a-b, a-b/step or n/step."""
    kind = draw(st.sampled_from(["*", "*/", "n", "a-b", "a-b/", "n/"]))
    if kind == "*":
        return "*"
    if kind == "*/":
        return f"*/{draw(st.integers(1, high - low))}"
    first = draw(st.integers(low, high - 1))
    if kind == "n":
        return str(draw(st.integers(low, high)))
    if kind == "n/":
        return f"{first}/{draw(st.integers(1, high - first))}"
    last = draw(st.integers(first + 1, high))
    return f"{first}-{last}" + (f"/{draw(st.integers(1, last - first))}" if kind == "a-b/" else "")


day_item = st.lists(st.integers(0, 6), min_size=1, max_size=2).map(sorted).map(
    lambda days: "-".join(cron.DAYS[day] for day in days))  # a name, or a range of names (mon before sun)
day_field = st.just("*") | st.lists(day_item, min_size=1, max_size=3).map(",".join)


@st.composite
def valid_expression(draw: st.DrawFn) -> str:
    fields = [",".join(draw(st.lists(numeric_item(low, high), min_size=1, max_size=3))) for _, low, high in NUMERIC]
    # Keep the day of month possible in every month, so the expression fires (that rule is tested apart).
    fields[2] = ",".join(draw(st.lists(numeric_item(1, 28), min_size=1, max_size=3)))
    return " ".join([*fields, draw(day_field)])


@settings(max_examples=150, deadline=None)
@given(valid_expression(), ZONES, MOMENTS)
def test_valid_expressions_load_and_fire_when_apscheduler_says(expression: str, zone: str, moment: datetime) -> None:
    schedule = load_text(f'name = "x"\ncron = "{expression}"\ntimezone = "{zone}"\n[target]\ntask = "t"\n',
                         "s.toml", tasks={"t"}, workflows=(), default_timezone="UTC")
    assert schedule.cron == expression and schedule.timezone == zone
    now = moment.replace(tzinfo=ZoneInfo(zone))
    ours = cron.trigger(schedule.cron, schedule.timezone).get_next_fire_time(None, now)
    assert ours is not None and ours == CronTrigger.from_crontab(expression, timezone=zone).get_next_fire_time(None,
                                                                                                               now)
    assert now <= ours <= now + timedelta(days=366 * 28)  # the calendar repeats every 28 years


# Numbers in and out of range, backwards ranges, zero and oversized steps: valid and invalid items alike.
number = st.integers(0, 70).map(str)
any_item = st.one_of(
    st.just("*"), number, st.builds("*/{}".format, number), st.builds("{}-{}".format, number, number),
    st.builds("{}-{}/{}".format, number, number, number), st.builds("{}/{}".format, number, number))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(any_item, min_size=1, max_size=2).map(",".join), min_size=4, max_size=4))
def test_numeric_fields_are_judged_as_apscheduler_judges_them(fields: list[str]) -> None:
    expression = " ".join([*fields, "*"])
    try:
        trigger = CronTrigger.from_crontab(expression, timezone="UTC")
        fires = trigger.get_next_fire_time(None, datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))) is not None
    except ValueError:
        fires = False
    assert (cron.check(expression) == []) == fires, cron.check(expression)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789*/-, janfebmonsu\t", max_size=24))
def test_any_text_gets_a_verdict_with_columns_inside_it(expression: str) -> None:
    for error in cron.check(expression):
        assert 0 <= error.column <= len(expression) and error.message
