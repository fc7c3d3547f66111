"""The simulator and scenario files: the shipped registration scenarios, located problems, failed expectations,
the coverage report and the command line."""

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.bootstrap import event_declarations, task_registry
from app.config import load_settings
from app.workflows.engine import StepStatus
from app.workflows.expectations import gaps, merged
from app.workflows.loader import load_file
from app.workflows.playing import Player, scenario_files
from app.workflows.problems import WorkflowInvalid
from app.workflows.scenarios import load_scenario
from app.workflows.simulated import Arrival, Scenario, ScenarioError, StepScript
from app.workflows.simulation import simulate
from tests.cli import invoke

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = ROOT / "workflows"
USER = "7f3c6a4e-8d2b-4c1a-9e5f-0a1b2c3d4e5f"
INPUT = {"user_id": USER, "email": "ada@example.com", "name": "Ada"}
SETTINGS = load_settings(environ={})
REGISTRY, CATALOGUE = task_registry(SETTINGS), event_declarations(SETTINGS)[0]
REGISTRATION = load_file(WORKFLOWS / "user_registration.toml", tasks=REGISTRY.names(), events=CATALOGUE.fields())


def player() -> Player:
    return Player(REGISTRY, CATALOGUE, WORKFLOWS)


def test_every_shipped_scenario_holds_and_together_they_exercise_every_path() -> None:
    played = [player().play(path) for path in scenario_files([WORKFLOWS / "tests"])]
    assert len(played) >= 5
    assert [(each.path.name, each.problems, each.failures) for each in played if not each.ok] == []
    facts = merged(each.result.facts for each in played if each.result is not None)
    assert gaps(REGISTRATION, facts, REGISTRY) == []


def test_registration_verified_reminded_and_expired_each_simulate_well_under_a_second() -> None:
    verified = Arrival(timedelta(hours=30), "user.email_verified",
                       {"user_id": USER, "email": "ada@example.com", "verified_at": "2026-01-02T06:00:00Z"})
    reminded = Arrival(timedelta(hours=60), "user.email_verified",
                       {"user_id": USER, "email": "ada@example.com", "verified_at": "2026-01-03T12:00:00Z"})
    cases = {"verified": (Scenario(INPUT, events=(verified,)), ["remind", "expire"]),
             "reminded": (Scenario(INPUT, events=(reminded,)), ["expire"]),
             "expired": (Scenario(INPUT, steps={"expire": StepScript(output={"expired": True})}),
                         ["announce_verified"])}
    for name, (scenario, skipped) in cases.items():
        began = time.perf_counter()
        result = simulate(REGISTRATION, scenario, REGISTRY, CATALOGUE)
        spent = time.perf_counter() - began
        assert result.status == "succeeded", name
        assert all(result.steps[step].status == "skipped" for step in skipped), name
        print(f"{name}: {spent * 1000:.1f} ms")  # the figure the closing note reports; nothing asserted on it
    expired = simulate(REGISTRATION, cases["expired"][0], REGISTRY, CATALOGUE)
    assert expired.ended == timedelta(days=7, seconds=1)  # 1 s delay, 48 h, then 5 days, to the second
    assert [event for event, _ in expired.published] == ["user.created", "user.expired"]


def test_retries_wait_their_longest_backoff_and_a_dead_step_fails_the_run() -> None:
    scenario = Scenario(INPUT, steps={"welcome_email": StepScript(then="fail", error="SMTP 451")})
    result = simulate(REGISTRATION, scenario, REGISTRY, CATALOGUE)
    retries = [entry for entry in result.timeline if entry.what == "retrying"]
    assert [entry.detail["next_in"] for entry in retries] == [2, 4, 8, 16, 32, 64, 128]  # 8 attempts, from 2 s
    assert result.status == "failed"
    assert result.steps["welcome_email"].attempts == 8
    assert "SMTP 451" in (result.steps["welcome_email"].error or "")
    assert result.in_order(StepStatus.CANCELLED)[0] == "await_verification"


def test_a_scenario_the_workflow_refuses_is_a_located_problem(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(f'file = "{WORKFLOWS / "user_registration.toml"}"\n'
                        'input = { user_id = "not-a-uuid", email = "ada@example.com", name = "Ada" }\n'
                        "[steps.welcom_email]\nfail = 1\n"
                        '[[events]]\nat = "1h"\ntype = "user.email_verifed"\n'
                        '[expect]\nran = ["annonce"]\n')
    problems = player().play(scenario).problems
    assert any(":3:1: steps.welcom_email: no step 'welcom_email'" in line and "did you mean 'welcome_email'" in line
               for line in problems), problems
    assert any(":7:1: events[0].type: unknown event type 'user.email_verifed'" in line for line in problems), problems
    assert any(":9:8: expect.ran[0]: no step 'annonce'" in line for line in problems), problems
    scenario.write_text(f'file = "{WORKFLOWS / "user_registration.toml"}"\n'
                        'input = { user_id = "not-a-uuid", email = "ada@example.com", name = "Ada" }\n')
    [problem] = player().play(scenario).problems
    assert ":2:1: input:" in problem and "UUID" in problem


@pytest.mark.parametrize(("text", "where"), [
    ('workflow = "x"\n[steps.a]\nfail = -1\n', ":3:8: steps.a.fail: expected an integer >= 0, got -1"),
    ('workflow = "x"\n[steps.a]\nthen = "maybe"\n', ":3:8: steps.a.then: expected 'ok', 'fail' or 'permanent'"),
    ('workflow = "x"\n[[events]]\nat = "soon"\ntype = "t"\n', ":3:6: events[0].at:"),
    ('workflow = "x"\n[expect]\nstatus = "done"\n', ":3:10: expect.status: expected 'succeeded', 'failed' or"),
    ('workflow = "x"\nfile = "y.toml"\n', ":2:1: file: give workflow or file, not both"),
    ("input = {}\n", ":1:1: (file): a scenario names its workflow"),
    ('workflow = "x"\nexpekt = 1\n', ":2:1: expekt: unknown key 'expekt'"),
])
def test_scenario_file_problems_name_line_column_and_field(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    with pytest.raises(WorkflowInvalid) as invalid:
        load_scenario(path)
    assert any(str(problem).startswith(f"{path}{where}") for problem in invalid.value.problems), invalid.value


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["workflow", "file", "input", "steps", "events", "expect", "start", "x"]),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                                   lambda inner: st.lists(inner, max_size=3)
                                   | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8),
                      max_size=6))
def test_any_toml_value_loads_or_is_a_located_problem(tmp_path_factory: pytest.TempPathFactory,
                                                      data: dict[str, object]) -> None:
    path = tmp_path_factory.mktemp("scenario") / "s.toml"
    path.write_text("".join(f"{json.dumps(key)} = {_toml(value)}\n" for key, value in data.items()))
    try:
        load_scenario(path)
    except WorkflowInvalid as invalid:
        assert invalid.problems and all(problem.line >= 1 and problem.column >= 1 for problem in invalid.problems)


def _toml(value: object) -> str:
    """A TOML value (inline tables and arrays); TOML has no null: None is written as an empty table."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)} = {_toml(item)}" for key, item in value.items()) + "}"
    return "{}"


def test_an_event_payload_the_catalogue_refuses_stops_the_simulation() -> None:
    bad = Arrival(timedelta(hours=1), "user.email_verified", {"user_id": USER})
    with pytest.raises(ScenarioError) as error:
        simulate(REGISTRATION, Scenario(INPUT, events=(bad,)), REGISTRY, CATALOGUE)
    assert error.value.path == ("events", 0, "payload") and "verified_at" in str(error.value)


def test_simulate_prints_the_timeline_and_test_fails_on_an_unmet_expectation(tmp_path: Path) -> None:
    (tmp_path / "workflows").mkdir()
    shutil.copy(WORKFLOWS / "user_registration.toml", tmp_path / "workflows")
    shutil.copytree(WORKFLOWS / "tests", tmp_path / "workflows" / "tests")
    ran = invoke(["workflows", "simulate", "workflows/user_registration.toml", "--input",
                  f'{{"user_id": "{USER}", "email": "ada@example.com", "name": "Ada"}}'], {}, tmp_path)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert any("welcome_email" in line and "enqueued" in line and "email.welcome (high, up to 8 attempt(s), runs in "
               "1s)" in line for line in lines), ran.stdout
    assert any(line.strip().startswith("+2d 1s") and "await_verification" in line and "timed out" in line
               for line in lines), ran.stdout
    assert lines[-1] == "run succeeded at +7d 1s (virtual time)"

    tested = invoke(["workflows", "test"], {}, tmp_path)
    assert tested.returncode == 0, tested.stdout
    assert "5 scenario(s), 0 failed, 0 path(s) not exercised" in tested.stdout

    scenario = tmp_path / "workflows" / "tests" / "verified_within_two_days.toml"
    scenario.write_text(scenario.read_text().replace("welcome_email = 3", "welcome_email = 2"))
    (tmp_path / "workflows" / "tests" / "verified_after_the_reminder.toml").unlink()
    tested = invoke(["workflows", "test"], {}, tmp_path)
    assert tested.returncode == 1
    assert "expect.attempts.welcome_email: expected 2, got 3" in tested.stdout
    assert "steps.remind: no scenario retries it" in tested.stdout
    strict = invoke(["workflows", "test", "--strict", "workflows/tests/never_verified_expires.toml"], {}, tmp_path)
    assert strict.returncode == 1 and "path(s) not exercised" in strict.stdout


def test_the_pytest_plugin_runs_another_projects_scenarios_and_names_what_none_exercised(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nflowplane_scenarios = ["flows/tests"]\n'
                                            'testpaths = ["flows/tests"]\n')
    (tmp_path / "flows" / "tests").mkdir(parents=True)
    shutil.copy(WORKFLOWS / "user_registration.toml", tmp_path / "flows")
    for name in ("verified_within_two_days", "never_verified_expires"):
        text = (WORKFLOWS / "tests" / f"{name}.toml").read_text()
        (tmp_path / "flows" / "tests" / f"{name}.toml").write_text(text)
    broken = tmp_path / "flows" / "tests" / "never_verified_expires.toml"
    broken.write_text(broken.read_text().replace('published = ["user.created", "user.expired"]',
                                                 'published = ["user.created"]'))
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "1 failed, 1 passed" in ran.stdout
    unmet = 'expect.published: expected ["user.created"], got ["user.created", "user.expired"]'
    assert unmet in ran.stdout, ran.stdout
    assert "workflow paths no scenario exercised" in ran.stdout
    assert "steps.remind: no scenario retries it" in ran.stdout
