import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.scheduling.cron import trigger
from app.scheduling.loader import Problem, WorkflowInvalid, load_file, load_text, validate_paths
from app.scheduling.spec import Overlap, Schedule

SCHEDULES = Path(__file__).parents[3] / "schedules"
TASKS = frozenset({"reports.monthly_signups", "sessions.cleanup", "data.retention"})
WORKFLOWS = frozenset({"user_registration"})
VALID = """name = "nightly"
cron = "30 3 * * *"

[target]
task = "sessions.cleanup"
"""


def load(text: str, default_timezone: str = "UTC") -> Schedule:
    return load_text(text, "s.toml", tasks=TASKS, workflows=WORKFLOWS, default_timezone=default_timezone)


def problems(tmp_path: Path, text: str, default_timezone: str = "UTC") -> list[Problem]:
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorkflowInvalid) as raised:
        load_file(path, tasks=TASKS, workflows=WORKFLOWS, default_timezone=default_timezone)
    found = raised.value.problems
    assert all(problem.file == str(path) for problem in found)
    assert str(raised.value) == "\n".join(map(str, found))
    return found


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def placed(found: list[Problem]) -> list[tuple[int, int, str]]:
    return [(problem.line, problem.column, problem.field) for problem in found]


@pytest.mark.parametrize(("file", "task", "cron", "grace", "payload"), [
    ("monthly_signup_report.toml", "reports.monthly_signups", "0 6 1 * *", timedelta(hours=6), {"timezone": "UTC"}),
    ("session_cleanup.toml", "sessions.cleanup", "30 3 * * *", timedelta(hours=1), {}),
    ("data_retention.toml", "data.retention", "45 3 * * *", timedelta(hours=1), {}),
])
def test_the_repositorys_schedules_load(file: str, task: str, cron: str, grace: timedelta,
                                        payload: dict[str, str]) -> None:
    path = SCHEDULES / file
    schedule = load_file(path, tasks=TASKS, workflows=WORKFLOWS, default_timezone="Europe/Paris")
    assert (schedule.name, schedule.target_kind, schedule.target, schedule.payload) == (path.stem, "task", task,
                                                                                         payload)
    assert (schedule.cron, schedule.every, schedule.misfire_grace, schedule.overlap) == (cron, None, grace,
                                                                                         Overlap.FORBID)
    assert schedule.enabled and schedule.coalesce
    assert schedule.timezone == ("UTC" if file.startswith("monthly") else "Europe/Paris")
    assert schedule.version == hashlib.sha256(path.read_bytes()).hexdigest() and schedule.path == str(path)


def test_every_key_is_read_and_defaults_apply() -> None:
    schedule = load("""name = "hourly_registration"
description = "A test user, every ten minutes."
every = "10m"
timezone = "Europe/Paris"
enabled = false
misfire_grace = "1h"
coalesce = false
overlap = "replace"

[target]
workflow = "user_registration"
payload = { email = "probe@example.com", tags = ["a", 1], nested = { ok = true } }
""")
    assert schedule == Schedule(
        name="hourly_registration", target_kind="workflow", target="user_registration",
        payload={"email": "probe@example.com", "tags": ["a", 1], "nested": {"ok": True}}, cron=None,
        every=timedelta(minutes=10), timezone="Europe/Paris", enabled=False, misfire_grace=timedelta(hours=1),
        coalesce=False, overlap=Overlap.REPLACE, description="A test user, every ten minutes.",
        version=schedule.version, path="s.toml")
    defaults = load(VALID, default_timezone="America/New_York")
    assert (defaults.timezone, defaults.enabled, defaults.misfire_grace, defaults.coalesce, defaults.overlap,
            defaults.payload, defaults.description) == ("America/New_York", True, timedelta(minutes=5), True,
                                                        Overlap.ALLOW, {}, "")


# -- one test per kind of problem ------------------------------------------------------------------------------


def test_toml_syntax_errors_use_tomllibs_position(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, 'name = "x"\ncron = "0 0 * * *\n'))
    assert placed([problem]) == [(2, 18, "(file)")] and problem.message.startswith("invalid TOML: ")
    assert str(problem) == f"{tmp_path / 's.toml'}:2:18: (file): {problem.message}"


def test_unknown_keys_say_what_was_meant(tmp_path: Path) -> None:
    found = problems(tmp_path, """name = "x"
crn = "0 0 * * *"
every = "1h"
task = "sessions.cleanup"

[target]
tsk = "sessions.cleanup"
task = "sessions.cleanup"
enabled = false
""")
    assert [(p.line, p.column, p.field, p.message) for p in found] == [
        (2, 1, "crn", "unknown key 'crn'; did you mean 'cron'?"),
        (4, 1, "task", "'task' belongs in the [target] table"),
        (7, 1, "target.tsk", "unknown key 'tsk'; did you mean 'task'?"),
        (9, 1, "target.enabled", "'enabled' belongs at the top of the file, before [target] (keys after a [table] "
                                 "line go into it)"),
    ]


def test_wrong_types_say_what_was_expected(tmp_path: Path) -> None:
    found = problems(tmp_path, """name = "x"
cron = 5
enabled = "yes"
coalesce = 1
timezone = ["UTC"]
description = 3
target = { task = 1, payload = "kind=signups" }
""")
    assert placed(found) == [(2, 8, "cron"), (3, 11, "enabled"), (4, 12, "coalesce"), (5, 12, "timezone"),
                             (6, 15, "description"), (7, 19, "target.task"), (7, 32, "target.payload")]
    assert [problem.message for problem in found] == [
        'expected a cron expression string, e.g. cron = "30 3 * * *", got an integer',
        "expected true or false, got a string",
        "expected true or false, got an integer",
        'expected an IANA timezone name, e.g. timezone = "Europe/Paris", got an array',
        "expected a string, got an integer",
        "expected a task name (a string), got an integer",
        'expected a table of plain values, e.g. payload = { kind = "signups" }, got a string',
    ]
    target = only(problems(tmp_path, 'name = "x"\ncron = "0 0 * * *"\ntarget = "sessions.cleanup"\n'))
    assert placed([target]) == [(3, 10, "target")] and target.message.startswith("expected a table, e.g. [target]")


@pytest.mark.parametrize(("line", "column", "field", "message"), [
    ('misfire_grace = "an hour"', 17, "misfire_grace", "expected a duration like '30s', '5m', '2h30m' or '14d' "
                                                       "(units ms, s, m, h, d, w), got 'an hour'"),
    ("misfire_grace = 60", 17, "misfire_grace", "expected a duration string such as '10m' or '1h', got an integer"),
    ('misfire_grace = "0s"', 17, "misfire_grace", "misfire_grace must be more than 0, got '0s'"),
])
def test_bad_durations(tmp_path: Path, line: str, column: int, field: str, message: str) -> None:
    problem = only(problems(tmp_path, f"{line}\n{VALID}"))
    assert (problem.line, problem.column, problem.field, problem.message) == (1, column, field, message)


@pytest.mark.parametrize(("every", "message"), [
    ('"500ms"', "an interval must be at least 1s, got '500ms'"),
    ('"0s"', "an interval must be at least 1s, got '0s'"),
    ('"10 minutes"', "expected a duration like"),
])
def test_an_interval_is_a_duration_of_at_least_a_second(tmp_path: Path, every: str, message: str) -> None:
    problem = only(problems(tmp_path, f'name = "x"\nevery = {every}\n[target]\ntask = "sessions.cleanup"\n'))
    assert placed([problem]) == [(2, 9, "every")] and problem.message.startswith(message)


def test_missing_name_and_target(tmp_path: Path) -> None:
    found = problems(tmp_path, 'cron = "0 0 * * *"\n')
    assert [(p.line, p.column, p.field, p.message) for p in found] == [
        (1, 1, "name", "missing required key 'name'"),
        (1, 1, "target", 'missing required table [target]: what each tick starts, e.g. [target] then '
                         'task = "sessions.cleanup"'),
    ]


def test_exactly_one_of_cron_and_every(tmp_path: Path) -> None:
    neither = only(problems(tmp_path, 'name = "x"\n[target]\ntask = "sessions.cleanup"\n'))
    assert (neither.line, neither.column, neither.field) == (1, 1, "cron")
    assert neither.message == "a schedule needs 'cron' (a cron expression) or 'every' (an interval)"
    both = only(problems(tmp_path, 'every = "1h"\n' + VALID))
    assert (both.line, both.column, both.field) == (1, 1, "every")
    assert both.message == "a schedule takes either 'cron' or 'every', not both"


@pytest.mark.parametrize(("cron", "column", "message"), [
    ("61 6 1 * *", 9, "minute field: 61 is out of range 0-59"),
    ("0 24 1 * *", 11, "hour field: 24 is out of range 0-23"),
    ("0 6 0 * *", 13, "day-of-month field: 0 is out of range 1-31"),
    ("0 6 1 1,13 *", 17, "month field: 13 is out of range 1-12"),
    ("0 6 1 jnu *", 15, "month field: 'jnu' is not a month (jan, feb, mar, apr, may, jun, jul, aug, sep, oct, nov, "
                        "dec); did you mean 'jun'?"),
    ("0 6 * * 1-5", 17, "day-of-week field: write days by name (mon, tue, wed, thu, fri, sat, sun), not '1-5': "
                        "APScheduler 3 counts 0 as Monday where cron counts it as Sunday"),
    ("0 6 * * mon-fir", 17, "day-of-week field: 'fir' is not a day (mon, tue, wed, thu, fri, sat, sun); "
                            "did you mean 'fri'?"),
    ("0 6 * * sun-mon", 17, "day-of-week field: the range sun-mon runs backwards; weeks run mon to sun here"),
    ("30-10 6 1 * *", 9, "minute field: the range 30-10 runs backwards; write 10-30"),
    ("*/0 6 1 * *", 9, "minute field: a step must be 1 or more, got 0"),
    ("*/90 6 1 * *", 9, "minute field: */90: the step value (90) is higher than the total range of the expression "
                        "(59)"),
    ("0 6 1 jan-jun/2 *", 15, "month field: 'jan-jun/2': a step applies to numbers only, e.g. 1-12/3"),
    ("0 x 1 * *", 11, "hour field: 'x' is not a number, a range (1-5), a step (*/15 or 0-30/10) or a list of these "
                      "(1,15)"),
    ("0,,5 6 1 * *", 11, "minute field: an empty item (two commas, or a comma at an end)"),
    ("0 6 1 * * 2025", 8, "expected 5 fields (minute hour day-of-month month day-of-week), got 6"),
    ("@daily", 8, "expected 5 fields (minute hour day-of-month month day-of-week), got 1"),
    ("0 0 30 feb *", 8, "no date matches: this expression never fires"),
])
def test_an_invalid_cron_expression_names_the_field(tmp_path: Path, cron: str, column: int, message: str) -> None:
    problem = only(problems(tmp_path, VALID.replace("30 3 * * *", cron)))
    assert (problem.line, problem.column, problem.field, problem.message) == (2, column, "cron", message)


def test_every_bad_field_of_a_cron_expression_is_reported(tmp_path: Path) -> None:
    found = problems(tmp_path, VALID.replace("30 3 * * *", "60 24 * 13 0"))
    assert placed(found) == [(2, 9, "cron"), (2, 12, "cron"), (2, 17, "cron"), (2, 20, "cron")]
    assert [problem.message.split(":")[0] for problem in found] == [
        "minute field", "hour field", "month field", "day-of-week field"]


def test_day_of_week_names_mean_what_cron_means() -> None:
    # APScheduler 3 would read "1-5" as Tuesday to Saturday; names cannot be misread.
    schedule = load(VALID.replace("30 3 * * *", "0 9 * * mon-fri"))
    assert schedule.cron is not None
    saturday = datetime.fromisoformat("2025-01-04T10:00:00+00:00")
    assert trigger(schedule.cron, schedule.timezone).get_next_fire_time(None, saturday).strftime("%a %H:%M") == \
        "Mon 09:00"


def test_an_unknown_timezone_says_what_was_meant(tmp_path: Path) -> None:
    typo = only(problems(tmp_path, 'timezone = "Europe/Pari"\n' + VALID))
    assert placed([typo]) == [(1, 12, "timezone")]
    assert typo.message == ("unknown timezone 'Europe/Pari': expected an IANA name such as 'Europe/Paris' or 'UTC'; "
                            "did you mean 'Europe/Paris'?")
    assert only(problems(tmp_path, 'timezone = "america/new_york"\n' + VALID)).message.endswith(
        "did you mean 'America/New_York'?")
    default = only(problems(tmp_path, VALID, default_timezone="Mars/Olympus"))
    assert placed([default]) == [(1, 1, "timezone")]
    assert default.message.startswith("no timezone given, and the default scheduler.timezone: unknown timezone "
                                      "'Mars/Olympus'")


def test_overlap_is_allow_forbid_or_replace(tmp_path: Path) -> None:
    problem = only(problems(tmp_path, 'overlap = "forbidd"\n' + VALID))
    assert placed([problem]) == [(1, 11, "overlap")]
    assert problem.message == "expected 'allow', 'forbid' or 'replace', got 'forbidd'; did you mean 'forbid'?"


def test_a_target_names_one_known_task_or_workflow(tmp_path: Path) -> None:
    head = 'name = "x"\ncron = "0 0 * * *"\n[target]\n'
    neither = only(problems(tmp_path, head + "payload = {}\n"))
    assert placed([neither]) == [(3, 1, "target")]
    assert neither.message == "a target needs 'task' (a task name) or 'workflow' (a workflow name)"
    both = only(problems(tmp_path, head + 'task = "sessions.cleanup"\nworkflow = "user_registration"\n'))
    assert (both.line, both.column, both.field, both.message) == (
        5, 1, "target.workflow", "a target takes either 'task' or 'workflow', not both")
    task = only(problems(tmp_path, head + 'task = "sessions.clean"\n'))
    assert placed([task]) == [(4, 8, "target.task")]
    assert task.message == ("unknown task 'sessions.clean'; did you mean 'sessions.cleanup'? "
                            "(known: data.retention, reports.monthly_signups, sessions.cleanup)")
    workflow = only(problems(tmp_path, head + 'workflow = "user_registraton"\n'))
    assert placed([workflow]) == [(4, 12, "target.workflow")]
    assert workflow.message.startswith("unknown workflow 'user_registraton'; did you mean 'user_registration'?")


def test_a_payload_holds_values_json_can_carry(tmp_path: Path) -> None:
    found = problems(tmp_path, VALID + "payload = { since = 2024-01-01, at = [1, 12:00:00], ok = { n = 1.5 } }\n")
    assert placed(found) == [(6, 21, "target.payload.since"), (6, 42, "target.payload.at[1]")]
    assert found[0].message.startswith("a TOML date or time cannot be sent (payloads travel as JSON)")


def test_every_problem_of_a_file_is_reported_in_file_order(tmp_path: Path) -> None:
    found = problems(tmp_path, """name = "Monthly"
cron = "0 6 1 * 8"
timezone = "Europe/Pariss"
misfire_grace = "0s"
overlap = "never"
colesce = true

[target]
task = "reports.monthly_signup"
payload = []
""")
    assert [p.field for p in found] == ["name", "cron", "timezone", "misfire_grace", "overlap", "colesce",
                                        "target.task", "target.payload"]
    assert [p.line for p in found] == [1, 2, 3, 4, 5, 6, 9, 10]


def test_validate_paths_reports_a_name_declared_twice(tmp_path: Path) -> None:
    text = (SCHEDULES / "session_cleanup.toml").read_text(encoding="utf-8")
    (tmp_path / "a.toml").write_text(text, encoding="utf-8")
    (tmp_path / "b.toml").write_text(text, encoding="utf-8")
    (tmp_path / "broken.toml").write_text('name = "broken"\n', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a schedule", encoding="utf-8")
    schedules, found = validate_paths([tmp_path, SCHEDULES / "data_retention.toml"], tasks=TASKS,
                                      workflows=WORKFLOWS, default_timezone="UTC")
    assert [schedule.name for schedule in schedules] == ["session_cleanup", "data_retention"]
    assert [(p.file, p.line, p.column, p.field) for p in found] == [
        (str(tmp_path / "b.toml"), 2, 8, "name"), (str(tmp_path / "broken.toml"), 1, 1, "target"),
        (str(tmp_path / "broken.toml"), 1, 1, "cron")]
    assert found[0].message == f"schedule 'session_cleanup' is already declared in {tmp_path / 'a.toml'}"


def test_unreadable_files_are_problems_too(tmp_path: Path) -> None:
    (tmp_path / "latin1.toml").write_bytes(b'name = "caf\xe9"\n')
    _, found = validate_paths([tmp_path / "missing.toml", tmp_path / "latin1.toml"], tasks=TASKS,
                              workflows=WORKFLOWS, default_timezone="UTC")
    assert placed(found) == [(1, 1, "(file)"), (1, 12, "(file)")]
    assert "cannot read" in found[0].message and "not UTF-8" in found[1].message
