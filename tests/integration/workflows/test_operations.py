"""Operating workflows through the API and the CLI: who may do what, paging, input problems, retry."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.domain.users import Role
from app.plane.envelope import Envelope
from tests.cli import Ran, invoke
from tests.conftest import ROOT
from tests.e2e.processes import FLOWPLANE
from tests.integration.accounts import bearer, login_as, register
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.workflows.conftest import finished_run, start, write_workflow

FLOW = """name = "two_steps"
description = "one step, then another"

[input]
log = "str"
count = { type = "int", required = false, default = 1 }

[[steps]]
id = "first"
task = "test.step"
payload = { log = "{{ input.log }}" }

[[steps]]
id = "second"
task = "test.step"
after = ["first"]
payload = { log = "{{ input.log }}", previous = "{{ steps.first.output.step }}" }
"""


@pytest.fixture
def flows(world: PlaneWorld) -> Path:
    directory = world.directory / "flows"
    write_workflow(directory, "two_steps", FLOW)
    shutil.copy(ROOT / "workflows" / "user_registration.toml", directory)  # registration needs it
    world.env["FLOWPLANE_WORKFLOWS__DIRECTORY"] = str(directory)
    return directory


def _kill_first_step(container: Container, run_id: str) -> None:
    """What a worker reports when a step's last attempt fails."""
    envelope = Envelope(kind="task", type="test.step", payload={}, run_id=run_id, step_id="first", attempt=3)
    container.runner.step_dead(envelope, "RuntimeError: the disk is full")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_roles_input_problems_paging_and_retry_through_the_api(world: PlaneWorld, flows: Path) -> None:
    container = world.container()
    with TestClient(create_app(container)) as client:
        admin = login_as(client, container, Role.ADMIN)
        operator = login_as(client, container, Role.OPERATOR)
        user = bearer(register(client)["access_token"])

        assert client.get("/api/workflows").status_code == 401
        assert client.get("/api/workflows", headers=user).status_code == 403
        listed = client.get("/api/workflows", headers=operator).json()
        assert {item["name"] for item in listed} == {"two_steps", "user_registration"}
        shown = client.get("/api/workflows/two_steps", headers=operator).json()
        assert [step["id"] for step in shown["steps"]] == ["first", "second"] and len(shown["version"]) == 64
        assert client.get("/api/workflows/nope", headers=operator).status_code == 404

        body = {"log": str(world.directory / "log")}
        assert client.post("/api/workflows/two_steps/runs", json=body, headers=operator).status_code == 403
        bad = client.post("/api/workflows/two_steps/runs", json={"count": "x", "extra": 1}, headers=admin)
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert {error["field"] for error in bad.json()["errors"]} == {"input.log", "input.count", "input.extra"}
        ids = [client.post("/api/workflows/two_steps/runs", json=body, headers=admin).json()["id"] for _ in range(5)]

        first_page = client.get("/api/runs", params={"workflow": "two_steps", "limit": 2}, headers=operator).json()
        second_page = client.get("/api/runs", params={"workflow": "two_steps", "limit": 2,
                                                      "cursor": first_page["next_cursor"]}, headers=operator).json()
        third_page = client.get("/api/runs", params={"workflow": "two_steps", "limit": 2,
                                                     "cursor": second_page["next_cursor"]}, headers=operator).json()
        paged = [run["id"] for page in (first_page, second_page, third_page) for run in page["items"]]
        assert sorted(paged) == sorted(ids) and len(set(paged)) == 5 and third_page["next_cursor"] is None
        assert client.get("/api/runs", params={"cursor": "garbage"}, headers=operator).status_code == 422
        assert client.get("/api/runs", params={"status": "sleeping"}, headers=operator).status_code == 422

        _kill_first_step(container, ids[0])
        failed = client.get(f"/api/runs/{ids[0]}", headers=operator).json()
        assert failed["status"] == "failed" and "disk is full" in failed["error"]
        steps = {step["id"]: step for step in failed["steps"]}
        assert steps["first"]["status"] == "dead" and steps["first"]["last_error"] == "RuntimeError: the disk is full"
        assert steps["second"]["status"] == "cancelled"
        assert [run["id"] for run in client.get("/api/runs", params={"status": "failed"},
                                                headers=operator).json()["items"]] == [ids[0]]
        assert client.post(f"/api/runs/{ids[0]}/retry", headers=operator).status_code == 403
        retried = client.post(f"/api/runs/{ids[0]}/retry", headers=admin)
        assert retried.status_code == 202 and retried.json()["retried"] == ["first"]
        resumed = client.get(f"/api/runs/{ids[0]}", headers=operator).json()
        assert resumed["status"] == "running"
        assert {step["id"]: step["status"] for step in resumed["steps"]} == {"first": "ready", "second": "waiting"}
        assert client.post("/api/runs/nope/retry", headers=admin).status_code == 404
        assert client.get("/api/runs/nope", headers=operator).status_code == 404

    world.start_worker(concurrency=2)  # the retried run now finishes
    assert finished_run(container, ids[0])["status"] == "succeeded"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_cli_validates_shows_runs_and_retries(world: PlaneWorld, flows: Path) -> None:
    container = world.container()
    env = {**os.environ, **world.env}

    def flowplane(*args: str, status: int = 0) -> Ran:
        result = invoke(["workflows", *args], env, world.directory)
        assert result.returncode == status, result.stdout + result.stderr
        return result

    # The console script itself, once
    script = subprocess.run([FLOWPLANE, "workflows", "validate"], cwd=world.directory, env=env, capture_output=True,
                            text=True, timeout=60)
    assert script.returncode == 0 and "two_steps (2 steps" in script.stdout, script.stderr

    broken = write_workflow(world.directory / "broken", "broken", FLOW.replace('after = ["first"]', 'after = "first"'))
    invalid = flowplane("validate", str(broken), status=1)
    assert f"{broken}:16:9: steps.second.after: expected a list of step ids" in invalid.stderr
    assert "two_steps" in flowplane("list").stdout
    drawing = flowplane("show", "two_steps").stdout
    assert "first  task test.step" in drawing and "second  task test.step  <- first" in drawing
    assert json.loads(flowplane("show", "two_steps", "--json").stdout)["name"] == "two_steps"
    assert "no workflow named 'nope'" in flowplane("show", "nope", status=1).stderr

    run_id = flowplane("run", "two_steps", "--input", json.dumps({"log": "/dev/null"})).stdout.strip()
    assert "input.log: required" in flowplane("run", "two_steps", "--input", "{}", status=1).stderr
    assert run_id in flowplane("runs", "--workflow", "two_steps").stdout
    detail: dict[str, Any] = json.loads(flowplane("inspect", run_id).stdout)
    assert detail["status"] == "running" and detail["steps"][0]["status"] == "ready"
    assert "nothing was dead" in flowplane("retry", run_id).stdout
    _kill_first_step(container, run_id)
    assert flowplane("retry", run_id).stdout == "retried: first\n"
    assert start(container, "two_steps", {"log": "/dev/null"})
