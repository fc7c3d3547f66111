from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.scheduling.loader import WorkflowInvalid, load_text
from app.scheduling.spec import Schedule
from tests.mutations import mutated

VALID = """#:schema ./schema.json
name = "monthly_signup_report"
description = "Signups of the previous month, as CSV."
cron = "0 6 1 * *"
timezone = "Europe/Paris"
enabled = true
misfire_grace = "1h"
coalesce = true
overlap = "forbid"

[target]
task = "reports.monthly_signups"
payload = { kind = "signups", months = [1, 2], nested = { a = "b" } }
"""
LINES = VALID.splitlines(keepends=True)
TASKS = frozenset({"reports.monthly_signups", "sessions.cleanup"})
WORKFLOWS = frozenset({"user_registration"})

# Characters and snippets that matter to TOML and to cron expressions, beside arbitrary ones.
pieces = st.sampled_from(list("[]{}=\"',.#\n \\*/-") + ["[target]", "cron", "every", "task", "workflow", "61", "mon",
                                                         "1979-05-27", "Europe/", "payload"])
junk = st.lists(pieces | st.characters(), max_size=6).map("".join)
keys = st.sampled_from(["name", "description", "cron", "every", "timezone", "enabled", "misfire_grace", "coalesce",
                        "overlap", "target", "task", "workflow", "payload", "x", "target.task"])
values = st.sampled_from(['"a"', '"10m"', '"0s"', "3", "true", "[]", "{}", '"0 0 * * *"', '"* * *"', '"60 * * * 1"',
                          '"UTC"', '"Mars/Base"', '"forbid"', '{ task = "sessions.cleanup" }', "1979-05-27",
                          '{ workflow = "user_registration", task = "x" }', "[1, [2]]", '"user_registration"'])


mutations = mutated(LINES, junk, keys, values)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations)
def test_mutated_files_load_or_report_placed_problems(text: str) -> None:
    try:
        schedule = load_text(text, "mutated.toml", tasks=TASKS, workflows=WORKFLOWS, default_timezone="UTC")
    except WorkflowInvalid as invalid:
        assert invalid.problems
        for problem in invalid.problems:
            assert problem.file == "mutated.toml"
            assert 1 <= problem.line <= text.count("\n") + 1, problem
            assert problem.column >= 1 and problem.field and problem.message, problem
        return
    assert isinstance(schedule, Schedule) and (schedule.cron is None) != (schedule.every is None)
