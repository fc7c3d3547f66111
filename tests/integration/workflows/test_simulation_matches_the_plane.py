"""The simulator is the engine, not a second implementation: for random DAGs with random scripted outcomes (retries,
permanent errors, `continue`, conditions, timers, the run's own events waking its event waits or timing out),
``simulate`` and the real plane (worker processes, Redis, PostgreSQL) end every step the same way, after the same
attempts, and the run with the same status. Parallel branches interleave differently on real workers, so the
comparison is per step; and when a run fails, which of its waiting steps were cancelled and which had started
first is a race between branches, not compared."""

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.workflows.simulated import Scenario, StepScript
from app.workflows.simulation import simulate
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.workflows.conftest import finished_run, start, write_workflow

Plan = dict[str, dict[str, Any]]  # step id -> {after, kind, fail, then, flag, when, on_failure}


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    count = draw(st.integers(1, 7))
    plan: Plan = {}
    for index in range(count):
        step_id = f"s{index}"
        after = [f"s{b}" for b in draw(st.lists(st.integers(0, index - 1), max_size=2, unique=True))] if index else []
        kind = draw(st.sampled_from(["task"] * 5 + ["wait", "event", "wait_for"]))
        if kind == "event":  # published at once (after steps that never fail): real time stays far below 3 s
            after = [before for before in after if plan[before]["kind"] == "task" and plan[before]["fail"] == 0
                     and plan[before]["then"] == "ok" and not plan[before].get("when")]
        step: dict[str, Any] = {"after": after, "kind": kind}
        if kind == "task":
            step |= {"fail": draw(st.integers(0, 2)), "then": draw(st.sampled_from(["ok"] * 4 + ["permanent", "fail"])),
                     "flag": draw(st.booleans()),
                     "on_failure": draw(st.sampled_from(["fail_run", "fail_run", "continue"]))}
        flagged = [before for before in after if plan[before]["kind"] == "task"]
        if flagged and kind != "event" and draw(st.booleans()):
            step["when"] = f"steps.{flagged[0]}.output.flag == {draw(st.sampled_from(['true', 'false']))}"
        plan[step_id] = step
    return plan


def as_toml(name: str, plan: Plan) -> str:
    lines = [f'name = "{name}"', "", "[input]", 'user_id = "uuid"', ""]
    for step_id, step in plan.items():
        lines += ["[[steps]]", f'id = "{step_id}"', f"after = {json.dumps(step['after'])}"]
        if step["kind"] == "wait":
            lines.append('wait = "1s"')
        elif step["kind"] == "event":  # the run's own event: it wakes the run's waits, parked already or later
            lines += ['event = "user.created"',
                      'payload = { user_id = "{{ input.user_id }}", email = "a@example.com", name = "A" }']
        elif step["kind"] == "wait_for":
            lines += ['wait_for = "user.created"', 'match = { user_id = "{{ input.user_id }}" }', 'timeout = "3s"']
        else:
            lines += ['task = "test.scripted"', 'retry = { attempts = 3, first = "0s", jitter = "none" }',
                      f"on_failure = \"{step['on_failure']}\"",
                      f"payload = {{ fail = {step['fail']}, then = \"{step['then']}\", "
                      f"output = {{ flag = {str(step['flag']).lower()} }} }}"]
        if "when" in step:
            lines.append(f"when = \"{step['when']}\"")
        lines.append("")
    return "\n".join(lines)


def scripts(plan: Plan) -> dict[str, StepScript]:
    return {step_id: StepScript(failures=step["fail"], then=step["then"], output={"flag": step["flag"]})
            for step_id, step in plan.items() if step["kind"] == "task"}


@pytest.mark.postgres
@pytest.mark.timeout(300)
@pytest.mark.parametrize(("backend", "database_url"), [("redis", "postgresql")], indirect=True)
def test_simulate_and_the_real_plane_end_every_step_alike(world: PlaneWorld, tmp_path: Path,
                                                          database_url: str) -> None:
    directory = tmp_path / "flows"
    world.env |= {"FLOWPLANE_WORKFLOWS__DIRECTORY": str(directory), "FLOWPLANE_WORKFLOWS__RELOAD_INTERVAL": "0s",
                  "FLOWPLANE_DATABASE__URL": database_url}
    world.start_worker(concurrency=2)
    world.start_worker(concurrency=2)

    # Not shrunk: each example is a real run of up to a few seconds; the failing one's file is in the message.
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.reuse, Phase.generate])
    @given(plans())
    def check(plan: Plan) -> None:
        name = f"sim_{uuid.uuid4().hex[:8]}"
        write_workflow(directory, name, as_toml(name, plan))
        container = world.container()
        workflow = container.workflows.get(name)
        given = {"user_id": str(uuid.uuid4())}  # its own: the events of earlier examples' runs must not match
        simulated = simulate(workflow, Scenario(input=given, steps=scripts(plan),
                                                events_enabled=container.plane.events_enabled),
                             container.plane.registry, container.plane.catalogue)
        real = finished_run(container, start(container, name, given), timeout=30)
        ended = {step["id"]: (step["status"], step["attempts"]) for step in real["steps"]}
        expected = {step_id: (row.status, row.attempts) for step_id, row in simulated.steps.items()}
        if simulated.status == "failed":  # which waiting steps were cancelled, and which had started: a race
            ended = {step_id: value for step_id, value in ended.items()
                     if "cancelled" not in (value[0], expected[step_id][0])}
            expected = {step_id: expected[step_id] for step_id in ended}
        assert (real["status"], ended) == (simulated.status, expected), as_toml(name, plan)

    check()
