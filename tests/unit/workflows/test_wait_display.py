"""Waits as people read them: the terminal drawing of a definition, and a parked step's wait in words."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.workflows.draw import draw, label
from app.workflows.loader import load_text
from app.workflows.waiting import describe, relative, short

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
WAITS = """name = "verify"

[input]
user_id = "uuid"
ends_at = { type = "datetime", required = false }

[[steps]]
id = "nap"
wait = "3d"

[[steps]]
id = "until_then"
until = "{{ input.ends_at }}"

[[steps]]
id = "verified"
wait_for = "user.email_verified"
match = { user_id = "{{ input.user_id }}" }
timeout = "48h"
after = ["nap"]

[[steps]]
id = "anything"
wait_for = "user.created"
after = ["nap"]
"""


def test_wait_steps_are_drawn_with_what_they_wait_for() -> None:
    workflow = load_text(WAITS, "verify.toml", tasks=[], events={
        "user.email_verified": frozenset({"user_id"}), "user.created": frozenset({"user_id"})})
    assert [label(step) for step in workflow.steps] == [
        "wait 3d", "until {{ input.ends_at }}", "wait_for user.email_verified (match user_id, timeout 2d)",
        "wait_for user.created"]
    lines = draw(workflow).splitlines()
    assert "    ●─ nap  wait 3d" in lines
    assert "    └─ verified  wait_for user.email_verified (match user_id, timeout 2d)  <- nap" in lines


def test_a_timer_says_when_and_how_long_is_left() -> None:
    waiting = {"until": (NOW + timedelta(days=3) - timedelta(seconds=1)).isoformat()}
    assert describe(waiting, NOW) == "waits until 2026-12-05 11:59:59 UTC (in 2 d 23 h)"
    assert describe({"until": "2026-12-05T13:00:00+01:00"}, NOW) == "waits until 2026-12-05 12:00 UTC (in 3 d)"
    assert short(waiting) == "until 2026-12-05 11:59"
    assert relative(NOW - timedelta(seconds=3), NOW) == "due now"  # the sweep has not come round yet


def test_an_event_wait_says_its_event_match_and_time_out() -> None:
    waiting = {"event": "user.email_verified", "match": {"user_id": "u-1", "n": 2},
               "timeout_at": (NOW + timedelta(hours=5, minutes=3)).isoformat()}
    assert describe(waiting, NOW) == ('waits for user.email_verified where n = 2, user_id = "u-1", '
                                      "until 2026-12-02 17:03 UTC (in 5 h 3 min)")
    assert describe({"event": "user.created", "match": {}, "timeout_at": None}, NOW) == (
        "waits for user.created, with no time-out")
    assert "match values are not known" in describe({"event": "x", "match": None, "timeout_at": None}, NOW)
    assert short(waiting) == "for user.email_verified"


@given(st.integers(1, 10**8))
def test_time_left_names_at_most_two_units_rounded_down(seconds: int) -> None:
    text = relative(NOW + timedelta(seconds=seconds), NOW)
    assert text.startswith("in ")
    words = text.removeprefix("in ").split()
    counts, units = [int(count) for count in words[::2]], words[1::2]
    assert 1 <= len(units) <= 2 and all(counts)
    size = {"d": 86_400, "h": 3_600, "min": 60, "s": 1}
    shown = sum(count * size[unit] for count, unit in zip(counts, units, strict=True))
    finest = {"d": 3_600, "h": 60, "min": 1, "s": 1}[units[0]]  # the unit after the largest one shown
    assert shown <= seconds < shown + finest
