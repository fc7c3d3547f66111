"""What an observer sees of steps: a long one shows as running while its handler runs; a quick one is
recorded with its outcome alone, and keeps when it started and where it ran."""

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from app.workflows.views import run_detail
from tests.e2e.processes import poll
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.workflows.conftest import finished_run, start, write_workflow

FLOW = """name = "quick_then_slow"

[input]
log = "str"

[[steps]]
id = "quick"
task = "test.step"
payload = { log = "{{ input.log }}", seconds = 0.01 }

[[steps]]
id = "slow"
task = "test.step"
after = ["quick"]
payload = { log = "{{ input.log }}", seconds = 1.5 }
"""


def _steps(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in detail["steps"]}


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_long_step_shows_running_and_a_quick_one_keeps_its_start(world: PlaneWorld, tmp_path: Path,
                                                                   database_url: str) -> None:
    directory = tmp_path / "flows"
    write_workflow(directory, "quick_then_slow", FLOW)
    world.env |= {"FLOWPLANE_WORKFLOWS__DIRECTORY": str(directory), "FLOWPLANE_DATABASE__URL": database_url}
    world.start_worker(concurrency=1)
    container = world.container()
    run_id = start(container, "quick_then_slow", {"log": str(tmp_path / "steps.log")})

    def slow_running() -> dict[str, dict[str, Any]] | None:
        detail = run_detail(container.engine, run_id)
        steps = _steps(detail) if detail else {}
        return steps if steps.get("slow", {}).get("status") == "running" else None

    seen = poll(slow_running, timeout=30, what="the slow step to show as running")
    assert seen["slow"]["worker"] and seen["slow"]["started_at"] and seen["slow"]["finished_at"] is None
    assert seen["quick"]["status"] == "succeeded"

    steps = _steps(finished_run(container, run_id))
    assert steps["slow"]["status"] == "succeeded"
    assert steps["slow"]["started_at"] == seen["slow"]["started_at"]  # the outcome keeps the start it saw
    for step in steps.values():
        assert step["worker"], step
        assert step["attempts"] == 1, step
        began, ended = datetime.fromisoformat(step["started_at"]), datetime.fromisoformat(step["finished_at"])
        assert began <= ended, step
    slow_took = (datetime.fromisoformat(steps["slow"]["finished_at"])
                 - datetime.fromisoformat(steps["slow"]["started_at"])).total_seconds()
    assert slow_took >= 1.5
