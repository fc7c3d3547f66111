import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from app.workflows.loader import Problem, WorkflowInvalid, load_file, load_text, validate_paths
from app.workflows.spec import InputType, Retry

EXAMPLE = Path(__file__).parents[3] / "workflows" / "user_registration.toml"
TASKS = frozenset({"email.welcome", "users.record_onboarding", "email.verification_reminder", "users.expire"})
EVENTS = frozenset({"user.created", "user.email_verified", "user.verified", "user.expired"})

HEAD = """name = "flow"

[input]
email = "email"
profile = "json"
"""


def problems(tmp_path: Path, text: str, name: str = "flow.toml") -> list[Problem]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorkflowInvalid) as raised:
        load_file(path, tasks=TASKS, events=EVENTS)
    found = raised.value.problems
    assert all(problem.file == str(path) for problem in found)
    assert str(raised.value) == "\n".join(map(str, found))
    return found


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def test_the_example_file_loads() -> None:
    workflow = load_file(EXAMPLE, tasks=TASKS, events=EVENTS)
    assert workflow.name == "user_registration"
    assert workflow.version == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert workflow.source == EXAMPLE.read_text(encoding="utf-8") and workflow.path == str(EXAMPLE)
    assert [field.type for field in workflow.inputs] == [InputType.UUID, InputType.EMAIL, InputType.STR]
    steps = {step.id: step for step in workflow.steps}
    assert [(step.id, step.kind) for step in workflow.steps] == [
        ("announce", "event"), ("welcome_email", "task"), ("await_verification", "wait_for"), ("remind", "task"),
        ("await_after_reminder", "wait_for"), ("expire", "task"), ("announce_expired", "event"),
        ("announce_verified", "event"), ("record_onboarding", "task")]
    announce, welcome = steps["announce"], steps["welcome_email"]
    assert (announce.target, announce.line) == ("user.created", 10)
    assert announce.headers is not None and announce.headers.render({}) == {"source": "registration"}
    assert (welcome.priority, welcome.delay, welcome.timeout) == ("high", timedelta(seconds=1), timedelta(seconds=30))
    assert welcome.retry == Retry(8, "exponential", timedelta(seconds=2), timedelta(minutes=10), "full")
    assert welcome.unique is not None and welcome.unique.ttl == timedelta(hours=24)
    assert welcome.unique.key.render({"input": {"user_id": "u1"}}) == "welcome:u1"
    assert welcome.payload is not None and welcome.payload.render({"input": {}})["valid_for"] == "48h"
    first, second = steps["await_verification"], steps["await_after_reminder"]
    assert (first.target, first.timeout, first.match_fields) == ("user.email_verified", timedelta(hours=48),
                                                                 ("user_id",))
    assert (second.timeout, second.after) == (timedelta(days=5), ("remind",))
    verified = {"input": {"user_id": "u1"}, "steps": {"await_verification": {"output": {"timed_out": False}},
                                                      "await_after_reminder": {"output": {}}}}
    timed_out = {"input": {"user_id": "u1"}, "steps": {"await_verification": {"output": {"timed_out": True}},
                                                       "await_after_reminder": {"output": {"timed_out": True}}}}
    for step_id, on_verified in (("remind", False), ("announce_verified", True), ("record_onboarding", True)):
        when = steps[step_id].when
        assert when is not None and when.evaluate(verified) is on_verified, step_id
        assert when.evaluate(timed_out) is not on_verified, step_id
    assert workflow.compensations == frozenset()


def test_compensation_steps_and_input_tables_are_built() -> None:
    workflow = load_text(HEAD + """count = { type = "int", required = false, default = 3 }

[[steps]]
id = "charge"
task = "email.welcome"
on_failure = "refund"

[[steps]]
id = "refund"
task = "users.record_onboarding"
payload = { why = "{{ steps.charge.status }}", count = "{{ input.count }}" }
""", "flow.toml", tasks=TASKS, events=EVENTS)
    assert workflow.compensations == {"refund"}
    assert workflow.step("charge").on_failure == "refund"
    assert workflow.inputs[-1].required is False and workflow.inputs[-1].default == 3


# -- one test per kind of problem ------------------------------------------------------------------------------


def test_1_toml_syntax_errors_use_tomllibs_position(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, 'name = "flow"\nsteps = [1,\n  = 2\n'))
    assert (problem.line, problem.column, problem.field) == (3, 3, "(file)")
    assert problem.message.startswith("invalid TOML: ")
    assert str(problem) == f"{tmp_path / 'flow.toml'}:3:3: (file): {problem.message}"


def test_2_unknown_keys_say_what_was_meant(tmp_path: Path) -> None:
    found = problems(tmp_path, 'nmae = "x"\n' + HEAD + """
[[steps]]
id = "first"
task = "email.welcome"
retyr = { attempts = 3 }
retry = { attempts = 3, jiter = "none" }
headers = { a = "b" }

[[steps]]
id = "second"
event = "user.created"
delay = "1s"
""")
    assert [(p.line, p.column, p.field, p.message) for p in found] == [
        (1, 1, "nmae", "unknown key 'nmae'; did you mean 'name'?"),
        (11, 1, "steps.first.retyr", "unknown key 'retyr'; did you mean 'retry'?"),
        (12, 25, "steps.first.retry.jiter", "unknown key 'jiter'; did you mean 'jitter'?"),
        (13, 1, "steps.first.headers", "'headers' applies to event steps only"),
        (18, 1, "steps.second.delay", "'delay' applies to task steps only"),
    ]


def test_3_wrong_types_say_what_was_expected(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + """
[[steps]]
id = "first"
task = "email.welcome"
after = "second"
retry = { attempts = "3" }
payload = "hello"

[[steps]]
id = "second"
task = "email.welcome"
after = [1]
""")
    assert [(p.line, p.column, p.field) for p in found] == [
        (10, 9, "steps.first.after"), (11, 22, "steps.first.retry.attempts"), (12, 11, "steps.first.payload"),
        (17, 10, "steps.second.after[0]")]
    assert found[0].message.startswith("expected a list of step ids") and found[0].message.endswith("got a string")
    assert found[1].message == "expected an integer, got a string"
    assert found[2].message.startswith("expected a table") and found[2].message.endswith("got a string")
    assert found[3].message == "expected a step id (a string), got an integer"


@pytest.mark.parametrize(
    ("line", "column", "field", "words"),
    [('delay = "5 minutes"', 9, "delay", "expected a duration like '30s'"),
     ("timeout = 30", 11, "timeout", "expected a duration string"),
     ('priority = "urgent"', 12, "priority", "expected 'high', 'medium' or 'low', got 'urgent'"),
     ('retry = { backoff = "linear" }', 21, "retry.backoff", "expected 'exponential' or 'fixed', got 'linear'"),
     ('retry = { jitter = "some" }', 20, "retry.jitter", "expected 'full' or 'none', got 'some'"),
     ('unique = { key = "k", ttl = "forever" }', 29, "unique.ttl", "expected a duration like")],
)
def test_4_bad_durations_and_enum_values(tmp_path: Path, line: str, column: int, field: str, words: str) -> None:
    problem = only(problems(tmp_path, HEAD + f'\n[[steps]]\nid = "first"\ntask = "email.welcome"\n{line}\n'))
    assert (problem.line, problem.column, problem.field) == (10, column, f"steps.first.{field}")
    assert words in problem.message


def test_4_bad_input_types_are_named(tmp_path: Path) -> None:
    found = problems(tmp_path, 'name = "flow"\n[input]\nemail = "emial"\nage = { type = "integer" }\n'
                               '[[steps]]\nid = "a"\ntask = "email.welcome"\n')
    assert [(p.line, p.column, p.field) for p in found] == [(3, 9, "input.email"), (4, 16, "input.age.type")]
    assert found[0].message.endswith("got 'emial'; did you mean 'email'?")
    assert "'str', 'int', 'float', 'bool', 'email', 'uuid', 'datetime' or 'json', got 'integer'" in found[1].message


def test_5_missing_required_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, """description = "no name, and steps lacking things"

[[steps]]
task = "email.welcome"

[[steps]]
id = "nothing_to_do"

[[steps]]
id = "both"
task = "email.welcome"
event = "user.created"
""")
    assert [(p.line, p.column, p.field, p.message) for p in found] == [
        (1, 1, "name", "missing required key 'name'"),
        (3, 1, "steps[0].id", "missing required key 'id'"),
        (6, 1, "steps.nothing_to_do", "a step needs 'task' (a task name), 'event' (an event type), 'wait' or "
                                      "'until' (a timer) or 'wait_for' (an event)"),
        (12, 1, "steps.both.event", "a step takes one of 'task' (a task name), 'event' (an event type), 'wait' or "
                                    "'until' (a timer) or 'wait_for' (an event), not several"),
    ]
    no_steps = only(problems(tmp_path, 'name = "flow"\n'))
    assert (no_steps.field, no_steps.message) == ("steps", "missing required key 'steps': a workflow needs at "
                                                           "least one [[steps]] table")
    assert only(problems(tmp_path, 'name = "flow"\nsteps = []\n')).message == "expected at least one [[steps]] table"


def test_6_unknown_tasks_and_events(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + """
[[steps]]
id = "first"
task = "email.welcom"

[[steps]]
id = "second"
event = "user.removed"
""")
    assert [(p.line, p.column, p.field) for p in found] == [(9, 8, "steps.first.task"), (13, 9, "steps.second.event")]
    assert found[0].message.startswith("unknown task 'email.welcom'; did you mean 'email.welcome'?")
    assert found[1].message.startswith("unknown event type 'user.removed'")
    assert "known: user.created" in found[1].message


def test_7_after_must_name_another_step(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + """
[[steps]]
id = "first"
task = "email.welcome"
after = ["frist", "first"]
""")
    assert [(p.line, p.column, p.field, p.message) for p in found] == [
        (10, 10, "steps.first.after[0]", "no step 'frist'; did you mean 'first'?"),
        (10, 19, "steps.first.after[1]", "a step cannot run after itself"),
    ]


def test_8_a_cycle_is_reported_once_with_its_steps_in_order(tmp_path: Path) -> None:
    steps = "".join(f'\n[[steps]]\nid = "{step}"\ntask = "email.welcome"\nafter = ["{waits}"]\n'
                    for step, waits in (("a", "b"), ("b", "c"), ("c", "a")))
    problem = only(problems(tmp_path, HEAD + steps))
    assert (problem.line, problem.column, problem.field) == (10, 1, "steps.a.after")
    assert problem.message.startswith("cycle: a -> b -> c -> a")


def test_9_duplicate_ids_unreachable_steps_and_unknown_on_failure(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + """
[[steps]]
id = "a"
task = "email.welcome"
on_failure = "undo"

[[steps]]
id = "a"
task = "email.welcome"
on_failure = "undoo"

[[steps]]
id = "undo"
task = "email.welcome"
after = ["a"]

[[steps]]
id = "late"
task = "email.welcome"
after = ["undo"]

[[steps]]
id = "later"
task = "email.welcome"
after = ["late"]
""")
    assert [(p.line, p.column, p.field, p.message) for p in found] == [
        (13, 6, "steps.a.id", "duplicate step id 'a': the step at line 7 has it already"),
        (15, 14, "steps.a.on_failure", "expected 'fail_run', 'continue' or the id of a compensation step; "
                                       "there is no step 'undoo'; did you mean 'undo'?"),
        (20, 1, "steps.undo.after", "a compensation step cannot have 'after': it starts only when 'a' fails"),
        (25, 10, "steps.late.after[0]",
         "unreachable: it waits for 'undo', a compensation step that only runs when 'a' fails"),
        (30, 10, "steps.later.after[0]", "unreachable: it waits for 'late', which can never start"),
    ]


def test_9_steps_waiting_for_a_cycle_are_unreachable(tmp_path: Path) -> None:
    steps = "".join(f'\n[[steps]]\nid = "{step}"\ntask = "email.welcome"\nafter = ["{waits}"]\n'
                    for step, waits in (("a", "b"), ("b", "a"), ("c", "b")))
    found = problems(tmp_path, HEAD + steps)
    assert [p.message for p in found] == ["cycle: a -> b -> a (each waits for the next, so none can start)",
                                          "unreachable: it waits for 'b', which is in a cycle"]
    assert (found[1].line, found[1].field) == (20, "steps.c.after[0]")


def test_10_references_in_templates_and_conditions(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + """
[[steps]]
id = "first"
task = "email.welcome"
payload = { to = "{{ input.emial }}", who = "{{ input.email.domain }}", deep = "{{ input.profile.plan }}" }
when = "steps.second.output.ok == true"

[[steps]]
id = "second"
event = "user.created"
after = ["first"]
headers = { x = "id-{{ steps.first.foo }}", y = "{{ steps.nope.status }}", z = "{{ steps.first.status.x }}" }
when = "steps.first.status == 'succeeded' and"

[[steps]]
id = "third"
task = "email.welcome"
unique = { key = "k:{{ input.email ", ttl = "1h" }
""")
    assert [(p.line, p.column, p.field, p.message.split(":")[0]) for p in found] == [
        (10, 22, "steps.first.payload.to", "input.emial"),
        (10, 49, "steps.first.payload.who", "input.email.domain"),
        (11, 9, "steps.first.when", "steps.second.output.ok"),
        (17, 24, "steps.second.headers.x", "steps.first.foo"),
        (17, 53, "steps.second.headers.y", "steps.nope.status"),
        (17, 84, "steps.second.headers.z", "steps.first.status.x"),
        (18, 46, "steps.second.when", "invalid condition"),
        (23, 21, "steps.third.unique.key", "invalid template"),
    ]
    messages = [p.message for p in found]
    assert "no input 'emial' is declared in [input]; did you mean 'email'?" in messages[0]
    assert "only json inputs have keys below them" in messages[1]
    assert "name it in 'after'" in messages[2]
    assert "expected steps.first.output or steps.first.status, got 'foo'" in messages[3]
    assert "there is no step 'nope'" in messages[4]
    assert "status is a string: it has no keys below it" in messages[5]
    assert "expected a value" in messages[6]
    assert "'{{' is not closed" in messages[7]


def test_10_a_compensation_step_may_read_the_step_that_failed(tmp_path: Path) -> None:
    text = HEAD + """
[[steps]]
id = "charge"
task = "email.welcome"
on_failure = "refund"

[[steps]]
id = "refund"
task = "email.welcome"
payload = { status = "{{ steps.charge.status }}" }
when = "steps.charge.output.id != null"
"""
    assert load_text(text, "flow.toml", tasks=TASKS, events=EVENTS).compensations == {"refund"}


def test_11_retry_bounds_and_event_priority(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + """
[[steps]]
id = "first"
task = "email.welcome"
retry = { attempts = 0, first = "5m", max = "1m" }

[[steps]]
id = "second"
task = "email.welcome"
retry = { first = "1h" }

[[steps]]
id = "third"
event = "user.created"
priority = 256
""")
    assert [(p.line, p.column, p.field, p.message) for p in found] == [
        (10, 22, "steps.first.retry.attempts", "expected an integer >= 1, got 0"),
        (10, 33, "steps.first.retry.first", "retry.first (5m) must not be longer than retry.max (1m)"),
        (15, 19, "steps.second.retry.first", "retry.first (1h) must not be longer than retry.max (10m, the default)"),
        (20, 12, "steps.third.priority", "expected an integer from 0 to 255 (an event's priority), got 256"),
    ]


def test_every_problem_of_a_file_is_reported_in_file_order(tmp_path: Path) -> None:
    found = problems(tmp_path, """name = "Flow"
[input]
email = "emial"

[[steps]]
id = "first"
task = "email.welcom"
delay = "soon"
after = ["zero"]
payload = { to = "{{ input.mail }}" }
""")
    assert [p.field for p in found] == ["name", "input.email", "steps.first.task", "steps.first.delay",
                                        "steps.first.after[0]", "steps.first.payload.to"]
    assert [p.line for p in found] == [1, 3, 7, 8, 9, 10]


def test_validate_paths_reports_a_name_declared_twice(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "b.toml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "broken.toml").write_text('name = "broken"\n', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a workflow", encoding="utf-8")
    workflows, found = validate_paths([tmp_path], tasks=TASKS, events=EVENTS)
    assert [workflow.path for workflow in workflows] == [str(tmp_path / "a.toml")]
    assert [(p.file, p.line, p.column, p.field) for p in found] == [(str(tmp_path / "b.toml"), 2, 8, "name"),
                                                                  (str(tmp_path / "broken.toml"), 1, 1, "steps")]
    assert found[0].message == f"workflow 'user_registration' is already declared in {tmp_path / 'a.toml'}"


def test_unreadable_files_are_problems_too(tmp_path: Path) -> None:
    (tmp_path / "latin1.toml").write_bytes(b'name = "caf\xe9"\n')
    _, found = validate_paths([tmp_path / "missing.toml", tmp_path / "latin1.toml"], tasks=TASKS, events=EVENTS)
    assert [(p.line, p.column, p.field) for p in found] == [(1, 1, "(file)"), (1, 12, "(file)")]
    assert "cannot read" in found[0].message and "not UTF-8" in found[1].message


def test_3_an_input_default_must_have_the_inputs_type(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, 'name = "flow"\n[input]\nwhen = { type = "datetime", default = 2024-01-01 }\n'
                                      '[[steps]]\nid = "a"\ntask = "email.welcome"\n'))
    assert (problem.line, problem.column, problem.field) == (3, 39, "input.when.default")
    assert problem.message == "expected a default of type datetime (a quoted string), got a date"


def test_positions_follow_dotted_keys_and_sub_tables(tmp_path: Path) -> None:
    found = problems(tmp_path, HEAD + """
[[steps]]
id = "first"
task = "email.welcome"
retry.first = "soon"

[steps.unique]
key = "k"
ttl = "never"

[[steps]]
id = "second"
task = "email.welcome"
  "delay" = 3
""")
    assert [(p.line, p.column, p.field) for p in found] == [
        (10, 15, "steps.first.retry.first"), (14, 7, "steps.first.unique.ttl"), (19, 13, "steps.second.delay")]
