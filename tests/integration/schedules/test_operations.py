"""Operating schedules through the API and the CLI: roles, the list with next fire times, history,
trigger, pause and resume, validation."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from app.domain.users import Role
from tests.cli import Ran, invoke
from tests.conftest import ROOT
from tests.e2e.processes import FLOWPLANE, environment
from tests.integration.accounts import bearer, login_as, register

HOURLY = """name = "hourly"
every = "1h"

[target]
task = "plane.noop"
payload = { source = "schedule" }
"""


@pytest.fixture
def settings(make_settings: Any, tmp_path: Path) -> Settings:
    directory = tmp_path / "schedules"
    directory.mkdir()
    (directory / "hourly.toml").write_text(HOURLY)
    (directory / "broken.toml").write_text(HOURLY.replace("hourly", "broken").replace('"1h"', '"hourly"'))
    return make_settings(FLOWPLANE_SCHEDULER__DIRECTORY=str(directory))


def test_roles_list_trigger_pause_and_history_through_the_api(container: Container) -> None:
    with TestClient(create_app(container)) as client:
        admin = login_as(client, container, Role.ADMIN)
        operator = login_as(client, container, Role.OPERATOR)
        user = bearer(register(client)["access_token"])
        assert client.get("/api/schedules", headers=user).status_code == 403
        listed = client.get("/api/schedules", headers=operator).json()
        assert [item["name"] for item in listed["items"]] == ["hourly"]
        hourly = listed["items"][0]
        assert hourly["every"] == "1h" and hourly["next_fire"].endswith(":00:00+00:00") and not hourly["paused"]
        [(file, problems)] = listed["rejected_edits"].items()
        assert file.endswith("broken.toml") and problems[0].startswith(f"{file}:2:9: every: ")

        assert client.post("/api/schedules/hourly/trigger", headers=operator).status_code == 403
        fired = client.post("/api/schedules/hourly/trigger", headers=admin)
        assert fired.status_code == 202 and fired.json()["outcome"] == "dispatched"
        assert fired.json()["trigger"] == "manual"
        task = client.get(f"/api/tasks/{fired.json()['dispatched_id']}", headers=operator).json()
        assert task["task"] == "plane.noop" and task["payload"] == {"source": "schedule"}

        assert client.post("/api/schedules/hourly/pause", headers=admin).json() == {"name": "hourly", "paused": True}
        assert client.get("/api/schedules/hourly", headers=operator).json()["next_fire"] is None
        skipped = client.post("/api/schedules/hourly/trigger", headers=admin).json()
        assert skipped["outcome"] == "skipped" and skipped["detail"] == "paused"
        assert client.post("/api/schedules/hourly/resume", headers=admin).json()["paused"] is False

        history = client.get("/api/schedules/hourly/history", headers=operator).json()
        assert [fire["outcome"] for fire in history] == ["skipped", "dispatched"]  # newest first
        assert all(fire["replica"] and fire["duration_ms"] >= 0 for fire in history)
        assert client.get("/api/schedules/nope", headers=operator).status_code == 404
        assert client.post("/api/schedules/nope/trigger", headers=admin).status_code == 404


def test_the_cli_validates_lists_and_triggers(settings: Settings, tmp_path: Path) -> None:
    env = environment(FLOWPLANE_DATABASE__URL=settings.database.url,
                      FLOWPLANE_SCHEDULER__DIRECTORY=settings.scheduler.directory,
                      FLOWPLANE_TASKS__SQLITE_PATH=str(tmp_path / "tasks.db"))

    def flowplane(*args: str, status: int = 0) -> Ran:
        result = invoke(["schedules", *args], env, tmp_path)
        assert result.returncode == status, result.stdout + result.stderr
        return result

    invalid = subprocess.run([FLOWPLANE, "schedules", "validate"], cwd=tmp_path, env={**os.environ, **env},
                             capture_output=True, text=True, timeout=60)  # the console script itself, once
    assert invalid.returncode == 1
    assert "broken.toml:2:9: every: expected a duration" in invalid.stderr and "ok  " in invalid.stdout
    assert flowplane("validate", str(ROOT / "schedules")).stdout.count("ok  ") == 3
    fired = json.loads(flowplane("trigger", "hourly").stdout)
    assert fired["outcome"] == "dispatched"
    listed = flowplane("list").stdout
    assert listed.startswith("hourly") and "last: dispatched" in listed
    assert "no schedule named 'nope'" in flowplane("pause", "nope", status=1).stderr
