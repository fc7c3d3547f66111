from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.workflows.loader import WorkflowInvalid, load_text
from app.workflows.locate import Locator
from app.workflows.spec import Workflow
from tests.mutations import mutated

EXAMPLE = (Path(__file__).parents[3] / "workflows" / "user_registration.toml").read_text(encoding="utf-8")
LINES = EXAMPLE.splitlines(keepends=True)
TASKS = frozenset({"email.welcome", "users.record_onboarding"})
EVENTS = frozenset({"user.created"})

# Characters and snippets that matter to TOML, to templates and to conditions, beside arbitrary ones.
pieces = st.sampled_from(list("[]{}=\"',.#\n \\") + ["{{", "}}", "[[steps]]", "after", "id", "task", "event",
                                                     "steps.", "input.", " and ", "retry", "1x", "on_failure"])
junk = st.lists(pieces | st.characters(), max_size=6).map("".join)
keys = st.sampled_from(["id", "task", "event", "after", "when", "payload", "headers", "retry", "unique", "priority",
                        "delay", "timeout", "on_failure", "name", "description", "input", "steps", "attempts", "x"])
values = st.sampled_from(['"a"', '"welcome_email"', "3", "-1", "true", "[]", '["announce", "record_onboarding"]',
                          "{ attempts = 0 }", '{ key = "{{ oops" }', '"{{ steps.x.output }}"', '"5m"', "[1, [2]]",
                          '"steps.announce.status == 1 <"', '"fail_run"', '"record_onboarding"', "{}", "1979-05-27"])


mutations = mutated(LINES, junk, keys, values)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations)
def test_mutated_files_load_or_report_placed_problems(text: str) -> None:
    try:
        workflow = load_text(text, "mutated.toml", tasks=TASKS, events=EVENTS)
    except WorkflowInvalid as invalid:
        assert invalid.problems
        for problem in invalid.problems:
            assert problem.file == "mutated.toml"
            assert 1 <= problem.line <= text.count("\n") + 1, problem
            assert problem.column >= 1 and problem.field and problem.message, problem
        return
    assert isinstance(workflow, Workflow) and workflow.source == text


@settings(max_examples=300)
@given(st.lists(pieces | st.characters(), max_size=40).map("".join),
       st.lists(st.sampled_from(["steps", "input", "retry", "a", 0, 1, 2]), max_size=4))
def test_the_locator_places_any_path_in_any_text(text: str, path: list[str | int]) -> None:
    line, column = Locator(text).find(tuple(path))
    assert 1 <= line <= text.count("\n") + 1 and column >= 1
