"""Editing a definition while runs go on: a run finishes on the version it began with; the next run takes
the new one; an invalid edit is rejected and the last valid version keeps serving."""

import logging
from pathlib import Path

import pytest

from app.workflows.catalogue import WorkflowCatalogue
from tests.e2e.processes import poll
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.workflows.conftest import finished_run, start, step_lines, write_workflow

FLOW = """name = "edited"

[input]
log = "str"

[[steps]]
id = "first"
task = "test.step"
payload = {{ log = "{{{{ input.log }}}}", seconds = {seconds} }}

[[steps]]
id = "{second}"
task = "test.step"
after = ["first"]
payload = {{ log = "{{{{ input.log }}}}", seconds = 0.01 }}
"""


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_run_finishes_on_its_pinned_version_while_the_file_changes(world: PlaneWorld, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "flows"
    write_workflow(directory, "edited", FLOW.format(seconds=1.5, second="old_second"))
    world.env |= {"FLOWPLANE_WORKFLOWS__DIRECTORY": str(directory), "FLOWPLANE_WORKFLOWS__RELOAD_INTERVAL": "0.1s"}
    container = world.container()
    world.start_worker(concurrency=2)
    log = tmp_path / "steps.log"
    old_version = container.workflows.get("edited").version
    running = start(container, "edited", {"log": str(log)})

    write_workflow(directory, "edited", FLOW.format(seconds=0.01, second="new_second"))  # mid-run
    new_version = poll(lambda: (lambda v: v if v != old_version else None)(container.workflows.get("edited").version),
                       timeout=10, what="the edit to load")
    following = start(container, "edited", {"log": str(log)})

    first, second = finished_run(container, running), finished_run(container, following)
    assert first["version"] == old_version and [s["id"] for s in first["steps"]] == ["first", "old_second"]
    assert second["version"] == new_version and [s["id"] for s in second["steps"]] == ["first", "new_second"]
    assert first["status"] == second["status"] == "succeeded"
    assert {(line["run"], line["step"]) for line in step_lines(log)} == {
        (running, "first"), (running, "old_second"), (following, "first"), (following, "new_second")}

    with caplog.at_level(logging.ERROR, logger="app.workflows.catalogue"):
        write_workflow(directory, "edited", FLOW.format(seconds=0.01, second="new_second").replace(
            'after = ["first"]', 'after = ["frist"]'))
        poll(lambda: container.workflows.rejected() or None, timeout=10, what="the invalid edit to be rejected")
    assert container.workflows.get("edited").version == new_version  # the last valid version keeps serving
    rejected = next(iter(container.workflows.rejected().values()))
    assert any("frist" in str(problem) and ":" in str(problem) for problem in rejected.problems)
    assert "frist" in caplog.text
    third = finished_run(container, start(container, "edited", {"log": str(log)}))
    assert third["version"] == new_version and third["status"] == "succeeded"


def test_a_catalogue_with_reload_off_reads_the_files_once(tmp_path: Path) -> None:
    write_workflow(tmp_path, "edited", FLOW.format(seconds=0.01, second="old_second"))
    catalogue = WorkflowCatalogue(tmp_path, tasks=lambda: ["test.step"], events=lambda: [], reload_interval=0)
    version = catalogue.get("edited").version
    write_workflow(tmp_path, "edited", FLOW.format(seconds=0.01, second="new_second"))
    assert catalogue.get("edited").version == version
