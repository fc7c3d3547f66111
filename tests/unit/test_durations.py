from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.durations import Rate, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("5m", timedelta(minutes=5)), ("2h30m", timedelta(hours=2, minutes=30)),
     ("14d", timedelta(days=14)), ("250ms", timedelta(milliseconds=250)), ("1w", timedelta(weeks=1)),
     ("1.5h", timedelta(minutes=90)), (" 10s ", timedelta(seconds=10))],
)
def test_parses_what_people_write(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "s", "10x", "5 m", "-5s", "1h-", "h1", "1e3s"])
def test_rejects_anything_else_saying_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**12).map(lambda ms: timedelta(milliseconds=ms)))
def test_format_and_parse_round_trip(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


@given(st.text())
def test_arbitrary_text_parses_or_raises_value_error(text: str) -> None:
    try:
        assert parse_duration(text) >= timedelta(0)
    except ValueError as exc:
        assert "expected" in str(exc)


@pytest.mark.parametrize(
    ("text", "count", "period"),
    [("10/minute", 10, timedelta(minutes=1)), ("100/15m", 100, timedelta(minutes=15)),
     ("1 / day", 1, timedelta(days=1)), ("3/second", 3, timedelta(seconds=1))],
)
def test_rates(text: str, count: int, period: timedelta) -> None:
    assert Rate.parse(text) == Rate(count, period)


@pytest.mark.parametrize("text", ["", "10", "0/minute", "10/0s", "10/fortnight", "x/minute", "-1/minute"])
def test_bad_rates(text: str) -> None:
    with pytest.raises(ValueError, match="expected a rate like"):
        Rate.parse(text)


@pytest.mark.parametrize("text", ["200000000w", "9" * 400 + "d"])
def test_a_duration_too_long_to_hold_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="too long a duration|expected"):
        parse_duration(text)
