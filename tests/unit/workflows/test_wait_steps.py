"""The two waiting step kinds in workflow files: `wait`/`until` timers and `wait_for` event waits, built into
specs, and every mistake in them reported at its place."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.workflows.loader import Problem, WorkflowInvalid, load_text
from app.workflows.spec import Step
from app.workflows.waits import due_time, match_key

TASKS = frozenset({"email.welcome"})
EVENTS = {"user.created": frozenset({"user_id", "email", "name"}),
          "user.email_verified": frozenset({"user_id", "email", "verified_at"})}
HEAD = """name = "verify"

[input]
user_id = "uuid"
ends_at = { type = "datetime", required = false }
"""


def load(steps: str) -> list[Step]:
    return list(load_text(HEAD + steps, "verify.toml", tasks=TASKS, events=EVENTS).steps)


def problems(steps: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(WorkflowInvalid) as raised:
        load_text(HEAD + steps, "verify.toml", tasks=TASKS, events=EVENTS)
    return [(p.line, p.column, p.field, p.message) for p in raised.value.problems]


def test_timers_and_event_waits_are_built() -> None:
    nap, until, verified = load("""
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
""")
    assert (nap.kind, nap.wait, nap.until) == ("wait", timedelta(days=3), None)
    assert until.kind == "wait" and until.until is not None and until.until.render({"input": {"ends_at": "x"}}) == "x"
    assert (verified.kind, verified.target, verified.timeout, verified.match_fields) == (
        "wait_for", "user.email_verified", timedelta(hours=48), ("user_id",))
    assert verified.match is not None and verified.match.render({"input": {"user_id": "u1"}}) == {"user_id": "u1"}


def test_mistakes_in_waits_are_located() -> None:
    found = problems("""
[[steps]]
id = "nap"
wait = "3 days"

[[steps]]
id = "verified"
wait_for = "user.email_verifed"
timeout = "soon"

[[steps]]
id = "matched"
wait_for = "user.email_verified"
match = { usr_id = "{{ input.user_id }}", user_id = "{{ input.usr_id }}" }

[[steps]]
id = "both"
wait = "1h"
until = "{{ input.ends_at }}"

[[steps]]
id = "sent"
wait = "1h"
payload = { a = 1 }
""")
    assert found == [
        (9, 8, "steps.nap.wait", "expected a duration like '30s', '5m', '2h30m' or '14d' (units ms, s, m, h, d, w), "
                                  "got '3 days'"),
        (13, 12, "steps.verified.wait_for", "unknown event type 'user.email_verifed'; did you mean "
                                            "'user.email_verified'? (known: user.created, user.email_verified)"),
        (14, 11, "steps.verified.timeout", "expected a duration like '30s', '5m', '2h30m' or '14d' (units ms, s, m, h, "
                                           "d, w), got 'soon'"),
        (19, 11, "steps.matched.match.usr_id", "the payload of 'user.email_verified' has no field 'usr_id'; did you "
                                               "mean 'user_id'? (its fields: email, user_id, verified_at)"),
        (19, 57, "steps.matched.match.user_id", "input.usr_id: no input 'usr_id' is declared in [input]; did you "
                                                "mean 'user_id'?"),
        (24, 1, "steps.both.until", "a wait step takes 'wait' (a duration) or 'until' (a time), not both"),
        (29, 1, "steps.sent.payload", "'payload' applies to task and event steps only"),
    ]


def test_a_step_naming_no_kind_says_which_there_are() -> None:
    assert problems("""
[[steps]]
id = "nothing"
""") == [(7, 1, "steps.nothing", "a step needs 'task' (a task name), 'event' (an event type), 'wait' or 'until' "
                                 "(a timer) or 'wait_for' (an event)")]


NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_until_reads_a_time_with_its_offset_or_a_duration() -> None:
    until = load('\n[[steps]]\nid = "t"\nuntil = "{{ input.ends_at }}"\n')[0]
    assert due_time(until, "2026-12-24T18:00:00+01:00", NOW) == datetime(2026, 12, 24, 17, 0, tzinfo=UTC)
    assert due_time(until, "90m", NOW) == NOW + timedelta(minutes=90)
    for bad in ("2026-12-24T18:00:00", "tomorrow", "", None, 5):
        with pytest.raises(ValueError, match="until"):
            due_time(until, bad, NOW)


@given(st.dictionaries(st.sampled_from(["user_id", "email", "tenant"]),
                       st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none()), min_size=1))
def test_a_match_key_depends_on_the_type_and_the_values_not_their_order(values: dict[str, object]) -> None:
    reordered = dict(reversed(list(values.items())))
    assert match_key("user.email_verified", values) == match_key("user.email_verified", reordered)
    assert match_key("user.email_verified", values) != match_key("user.created", values)
    changed = {**values, next(iter(values)): "something else entirely"}
    if changed != values:
        assert match_key("user.email_verified", changed) != match_key("user.email_verified", values)


def test_problems_are_problem_instances() -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        load_text(HEAD + '\n[[steps]]\nid = "w"\nwait_for = "nope"\n', "verify.toml", tasks=TASKS, events=EVENTS)
    assert all(isinstance(problem, Problem) for problem in raised.value.problems)
