"""Parked waits shown and woken through the API and the CLI (SQLite and PostgreSQL): what each waits for, the
wake endpoint's answers for every role and state, and the operator audit log's row for every wake."""

import getpass
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from litestar.testing import TestClient
from sqlmodel import Session, col, select

from app.api.app import create_app
from app.bootstrap import Container
from app.config import Settings
from app.db.models import OperatorAction
from app.domain.users import Role
from tests.cli import Ran, invoke
from tests.conftest import TEST_ENV
from tests.integration.accounts import login_as
from tests.integration.workflows.conftest import start
from tests.integration.workflows.parked import MARKUP, MovingClock, parked_container, parked_directory


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
def container(tmp_path: Path, make_settings: Callable[..., Settings], clock: MovingClock) -> Iterator[Container]:
    built = parked_container(tmp_path, make_settings, clock)
    yield built
    built.close()


def audit(container: Container) -> list[tuple[str, str, str, str]]:
    with Session(container.engine) as db:
        rows = db.exec(select(OperatorAction).order_by(col(OperatorAction.id))).all()
        return [(row.email, row.action, row.target, row.outcome) for row in rows]


def steps_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in body["steps"]}


def documented(client: TestClient[Any], path: str, method: str = "get") -> dict[str, Any]:
    """The 200 answer's schema in the OpenAPI document, with its components, for jsonschema."""
    document = client.get("/schema/openapi.json").json()
    schema = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


def test_the_api_shows_what_each_parked_step_waits_for(container: Container, clock: MovingClock) -> None:
    # Given a run parked on a timer, a timer until a duration, and an event wait matching the user's own text
    run_id = start(container, "parked", {"user_id": MARKUP})
    with TestClient(create_app(container)) as client:
        operator = login_as(client, container, Role.OPERATOR)
        # When an operator reads it
        answer = client.get(f"/api/runs/{run_id}", headers=operator)
        # Then each parked step says what it waits for, and until when
        assert answer.status_code == 200, answer.text
        steps = steps_of(answer.json())
        assert {name: step["status"] for name, step in steps.items()} == {
            "nap": "waiting", "trial": "waiting", "verified": "waiting", "after_nap": "waiting"}
        nap_until = datetime.fromisoformat(steps["nap"]["waiting"]["until"])
        assert abs(nap_until - (clock.now() + timedelta(days=3))) < timedelta(minutes=1)
        assert set(steps["nap"]["waiting"]) == {"until"}
        trial_until = datetime.fromisoformat(steps["trial"]["waiting"]["until"])
        assert abs(trial_until - (clock.now() + timedelta(hours=1))) < timedelta(minutes=1)
        verified = steps["verified"]["waiting"]
        assert verified["event"] == "user.created" and verified["match"] == {"user_id": MARKUP}
        timeout_at = datetime.fromisoformat(verified["timeout_at"])
        assert abs(timeout_at - (clock.now() + timedelta(days=2))) < timedelta(minutes=1)
        assert steps["after_nap"]["waiting"] is None  # waiting for `nap`, not parked
        # And the answer is the one the OpenAPI document describes
        jsonschema.validate(answer.json(), documented(client, "/api/runs/{run_id}"))
        waiting = client.get("/schema/openapi.json").json()["components"]["schemas"]["StepOut"]["properties"]
        assert {ref["$ref"].rsplit("/", 1)[1] for ref in waiting["waiting"]["oneOf"] if "$ref" in ref} == {
            "TimerWaitOut", "EventWaitOut"}

        # When the event comes, the step is over and shows no wait
        container.plane.publish("user.created", {"user_id": MARKUP, "email": "ada@example.com", "name": "Ada"})
        verified_step = steps_of(client.get(f"/api/runs/{run_id}", headers=operator).json())["verified"]
        assert verified_step["status"] == "succeeded" and verified_step["waiting"] is None


def test_only_an_admin_wakes_a_wait_and_every_wake_is_recorded(container: Container) -> None:
    run_id = start(container, "parked", {"user_id": "u1"})
    path = f"/api/runs/{run_id}/steps/nap/wake"
    with TestClient(create_app(container)) as client:
        admin = login_as(client, container, Role.ADMIN)
        operator = login_as(client, container, Role.OPERATOR)
        # Anonymous and operators are refused, and nothing is recorded
        assert client.post(path).status_code == 401
        assert client.post(path, headers=operator).status_code == 403
        assert audit(container) == []

        # Unknown runs and steps are 404, a step that is not parked 409: problem details, each recorded as failed
        unknown_run = client.post("/api/runs/nope/steps/nap/wake", headers=admin)
        unknown_step = client.post(f"/api/runs/{run_id}/steps/nope/wake", headers=admin)
        not_parked = client.post(f"/api/runs/{run_id}/steps/after_nap/wake", headers=admin)
        assert (unknown_run.status_code, unknown_step.status_code, not_parked.status_code) == (404, 404, 409)
        for refused in (unknown_run, unknown_step, not_parked):
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["status"] == refused.status_code
        assert "is not waiting" in not_parked.json()["detail"]

        # An admin wakes the timer: 200 with its output, and the run goes on at once
        woken = client.post(path, headers=admin)
        assert woken.status_code == 200, woken.text
        assert woken.json()["woken"] is True and "due_at" in woken.json()
        jsonschema.validate(woken.json(), documented(client, "/api/runs/{run_id}/steps/{step_id}/wake", "post"))
        steps = steps_of(client.get(f"/api/runs/{run_id}", headers=operator).json())
        assert steps["nap"]["status"] == "succeeded" and steps["nap"]["output"] == woken.json()
        assert steps["after_nap"]["status"] == "ready"

        # Woken already: 409; the event wait times out when woken
        assert client.post(path, headers=admin).status_code == 409
        event = client.post(f"/api/runs/{run_id}/steps/verified/wake", headers=admin)
        assert event.status_code == 200 and event.json() == {"timed_out": True, "woken": True}

    assert audit(container) == [
        ("admin@example.com", "step.wake", "nope/nap", "failed"),
        ("admin@example.com", "step.wake", f"{run_id}/nope", "failed"),
        ("admin@example.com", "step.wake", f"{run_id}/after_nap", "failed"),
        ("admin@example.com", "step.wake", f"{run_id}/nap", "ok"),
        ("admin@example.com", "step.wake", f"{run_id}/nap", "failed"),
        ("admin@example.com", "step.wake", f"{run_id}/verified", "ok")]


def test_the_cli_inspects_and_wakes_a_wait(container: Container, tmp_path: Path, database_url: str) -> None:
    env = {"FLOWPLANE_DATABASE__URL": database_url, **TEST_ENV,
           "FLOWPLANE_WORKFLOWS__DIRECTORY": str(parked_directory(tmp_path))}

    def flowplane(*args: str, status: int = 0) -> Ran:
        result = invoke(["workflows", *args], env, tmp_path)
        assert result.returncode == status, result.stdout + result.stderr
        return result

    run_id = start(container, "parked", {"user_id": MARKUP})
    # inspect: the waits in the JSON, and in words on stderr
    inspected = flowplane("inspect", run_id)
    steps = steps_of(json.loads(inspected.stdout))
    assert set(steps["nap"]["waiting"]) == {"until"}
    assert steps["verified"]["waiting"]["match"] == {"user_id": MARKUP}
    said = inspected.stderr.splitlines()
    assert [line.split(":", 1)[0] for line in said] == ["nap", "trial", "verified"]
    assert said[0].startswith("nap: waits until ") and said[0].endswith("(in 2 d 23 h)")
    assert said[2].startswith('verified: waits for user.created where user_id = "<b id=\\"x\\">ada</b> & \\"co\\"", ')

    # wake: the output, then the run goes on; a second wake, an unknown run or step fail with a message
    woken = json.loads(flowplane("wake", run_id, "nap").stdout)
    assert woken["woken"] is True and "due_at" in woken
    after = steps_of(json.loads(flowplane("inspect", run_id).stdout))
    assert after["nap"]["status"] == "succeeded" and after["after_nap"]["status"] == "ready"
    assert "is not waiting" in flowplane("wake", run_id, "nap", status=1).stderr
    assert "no run nope" in flowplane("wake", "nope", "nap", status=1).stderr
    assert "has no step 'nope'" in flowplane("wake", run_id, "nope", status=1).stderr

    # Each attempt is in the audit log as the OS user, with the nil UUID for an account
    login = f"cli:{getpass.getuser()}"
    assert audit(container) == [(login, "step.wake", f"{run_id}/nap", "ok"),
                                (login, "step.wake", f"{run_id}/nap", "failed"),
                                (login, "step.wake", "nope/nap", "failed"),
                                (login, "step.wake", f"{run_id}/nope", "failed")]
    with Session(container.engine) as db:
        assert {row.user_id for row in db.exec(select(OperatorAction)).all()} == {uuid.UUID(int=0)}


def test_the_cli_draws_wait_steps(container: Container, tmp_path: Path, database_url: str) -> None:
    env = {"FLOWPLANE_DATABASE__URL": database_url, **TEST_ENV,
           "FLOWPLANE_WORKFLOWS__DIRECTORY": str(parked_directory(tmp_path))}
    drawn = invoke(["workflows", "show", "parked"], env, tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    lines = [line.strip() for line in drawn.stdout.splitlines()]
    assert "●─ nap  wait 3d" in lines
    assert "●─ trial  until {{ input.ends_in }}" in lines
    assert "●─ verified  wait_for user.created (match user_id, timeout 2d)" in lines
    assert "└─ after_nap  task email.welcome  <- nap" in lines


def test_match_values_never_reach_the_logs(container: Container, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    run_id = start(container, "parked", {"user_id": MARKUP})
    with TestClient(create_app(container)) as client:
        admin = login_as(client, container, Role.ADMIN)
        shown = client.get(f"/api/runs/{run_id}", headers=admin)
        assert steps_of(shown.json())["verified"]["waiting"]["match"] == {"user_id": MARKUP}
        assert client.post(f"/api/runs/{run_id}/steps/verified/wake", headers=admin).status_code == 200
        assert client.post(f"/api/runs/{run_id}/steps/verified/wake", headers=admin).status_code == 409
    assert "woke" in caplog.text and MARKUP not in caplog.text and "ada</b>" not in caplog.text
