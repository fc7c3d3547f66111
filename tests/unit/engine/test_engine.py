"""The pure engine against random DAGs: each step starts once, only after everything it waits for."""

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.workflows.engine import FINISHED, IN_FLIGHT, RunStatus, StepState, StepStatus, decide
from app.workflows.spec import CONTINUE, FAIL_RUN, Step, Workflow


@dataclass(frozen=True)
class Equals:
    """A stand-in condition: input[key] == value."""

    key: str
    value: Any
    source: str = "input.flag == true"

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        return bool(context["input"].get(self.key) == self.value)

    def references(self) -> frozenset[tuple[str, ...]]:
        return frozenset({("input", self.key)})


@dataclass(frozen=True)
class Broken:
    source: str = "steps.a.output.n < 'x'"

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        raise ValueError("cannot compare int with str")

    def references(self) -> frozenset[tuple[str, ...]]:
        return frozenset()


def workflow(*steps: Step, compensations: frozenset[str] = frozenset()) -> Workflow:
    return Workflow(name="w", description="", inputs=(), steps=steps, version="v", source="",
                    compensations=compensations)


@st.composite
def dags(draw: st.DrawFn) -> Workflow:
    count = draw(st.integers(1, 30))
    steps = []
    for index in range(count):
        after = draw(st.lists(st.integers(0, index - 1), max_size=4, unique=True)) if index else []
        steps.append(Step(id=f"s{index}", kind="task", target="t", after=tuple(f"s{a}" for a in after)))
    order = draw(st.permutations(steps))  # the file's order says nothing about the graph's
    return workflow(*order)


def run_to_end(flow: Workflow, rng: random.Random, inputs: Mapping[str, Any] | None = None,
               fail: frozenset[str] = frozenset()) -> tuple[dict[str, StepState], list[str], RunStatus]:
    states = {step.id: StepState(StepStatus.WAITING) for step in flow.steps}
    started: list[str] = []
    for _ in range(1000):
        decision = decide(flow, inputs or {}, states)
        for step_id in decision.skip:
            states[step_id] = StepState(StepStatus.SKIPPED)
        for step_id in decision.cancel:
            states[step_id] = StepState(StepStatus.CANCELLED)
        for step_id in decision.broken:
            states[step_id] = StepState(StepStatus.DEAD)
        for step_id in decision.dispatch:
            step = flow.step(step_id)
            assert all(states[before].status in FINISHED for before in step.after), step_id
            assert step_id not in started
            started.append(step_id)
            states[step_id] = StepState(StepStatus.READY)
        if decision.changes:
            continue
        flying = [step_id for step_id, state in states.items() if state.status in IN_FLIGHT]
        if not flying:
            return states, started, decision.run_status
        finished = rng.choice(flying)  # steps in flight finish in any order
        outcome = StepStatus.DEAD if finished in fail else StepStatus.SUCCEEDED
        states[finished] = StepState(outcome, {"n": len(started)})
    raise AssertionError("the run never settled")


@settings(max_examples=200, deadline=None)
@given(dags(), st.randoms(use_true_random=False))
def test_every_step_of_a_dag_starts_once_after_all_it_waits_for(flow: Workflow, rng: random.Random) -> None:
    states, started, status = run_to_end(flow, rng)
    assert sorted(started) == sorted(flow.step_ids)
    assert status is RunStatus.SUCCEEDED
    assert all(state.status is StepStatus.SUCCEEDED for state in states.values())


def test_a_false_condition_skips_the_step_and_its_dependents_still_run() -> None:
    flow = workflow(Step("a", "task", "t", when=Equals("flag", True)), Step("b", "task", "t", after=("a",)))
    states, started, status = run_to_end(flow, random.Random(1), {"flag": False})
    assert states["a"].status is StepStatus.SKIPPED and started == ["b"] and status is RunStatus.SUCCEEDED


def test_a_condition_that_cannot_be_evaluated_kills_its_step_and_fails_the_run() -> None:
    flow = workflow(Step("a", "task", "t", when=Broken()), Step("b", "task", "t", after=("a",)))
    states, started, status = run_to_end(flow, random.Random(1))
    assert states["a"].status is StepStatus.DEAD and states["b"].status is StepStatus.CANCELLED
    assert started == [] and status is RunStatus.FAILED


def test_a_dead_step_fails_the_run_and_cancels_what_has_not_started() -> None:
    flow = workflow(Step("a", "task", "t"), Step("b", "task", "t", after=("a",)), Step("c", "task", "t"))
    states, _, status = run_to_end(flow, random.Random(1), fail=frozenset({"a"}))
    assert status is RunStatus.FAILED and states["b"].status is StepStatus.CANCELLED
    assert states["c"].status is StepStatus.SUCCEEDED  # already in flight: it finishes


def test_on_failure_continue_lets_dependents_run() -> None:
    flow = workflow(Step("a", "task", "t", on_failure=CONTINUE), Step("b", "task", "t", after=("a",)))
    states, _, status = run_to_end(flow, random.Random(1), fail=frozenset({"a"}))
    assert states["a"].status is StepStatus.DEAD and states["b"].status is StepStatus.SUCCEEDED
    assert status is RunStatus.SUCCEEDED


def test_a_compensation_step_runs_only_when_its_step_dies() -> None:
    flow = workflow(Step("charge", "task", "t", on_failure="refund"), Step("refund", "task", "t"),
                    Step("ship", "task", "t", after=("charge",)), compensations=frozenset({"refund"}))
    states, started, status = run_to_end(flow, random.Random(1), fail=frozenset({"charge"}))
    assert started == ["charge", "refund"] and status is RunStatus.FAILED
    assert states["ship"].status is StepStatus.CANCELLED
    states, started, status = run_to_end(flow, random.Random(1))
    assert "refund" not in started and states["refund"].status is StepStatus.SKIPPED
    assert status is RunStatus.SUCCEEDED


def test_fail_run_is_the_default() -> None:
    assert Step("a", "task", "t").on_failure == FAIL_RUN
