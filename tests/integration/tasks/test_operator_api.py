"""Operator endpoints and CLI of the task plane: operators read, only admins change anything."""

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient
from sqlmodel import Session

from app.api.app import create_app
from app.bootstrap import Container
from app.db.models import DeadLetter
from app.domain.users import Role
from app.plane.envelope import Envelope
from app.plane.tasks import dead
from app.plane.tasks.handling import Failure
from app.plane.tasks.policy import Priority, RetryPolicy, TaskOptions
from tests.cli import invoke
from tests.e2e.processes import FLOWPLANE
from tests.integration.accounts import login_as
from tests.integration.tasks.conftest import PlaneWorld


def _dead_letter(container: Container, tag: str) -> str:
    envelope = Envelope(kind="task", type="test.record", payload={"log": "/dev/null", "tag": tag})
    options = TaskOptions(queue=container.plane.queue, priority=Priority.LOW, retry=RetryPolicy(attempts=1),
                          timeout=None)
    dead.record(container.engine, Failure(envelope, options, "RuntimeError: boom", "Traceback ...", 1))
    return envelope.id


def test_roles_and_every_operator_action(world: PlaneWorld) -> None:
    container = world.container()
    with TestClient(create_app(container)) as client:
        user, operator, admin = (login_as(client, container, role) for role in (Role.USER, Role.OPERATOR, Role.ADMIN))
        dead_id = _dead_letter(container, "dead")
        pending = container.plane.enqueue("test.record", {"log": "/dev/null", "tag": "p"}, priority="high").id

        # Nobody without a token, and no plain user, reads anything
        assert client.get("/api/tasks/stats").status_code == 401
        assert client.get("/api/tasks/stats", headers=user).status_code == 403
        # Operators read everything
        stats = client.get("/api/tasks/stats", headers=operator).json()
        assert stats["pending"]["high"] == 1 and stats["dead"] == 1 and stats["paused"] is False
        page = client.get("/api/tasks", params={"state": "dead"}, headers=operator).json()
        assert page["total"] == 1 and page["items"][0]["id"] == dead_id
        assert page["items"][0]["error"] == "RuntimeError: boom"
        assert client.get("/api/tasks", params={"state": "pending", "task": "test.record"},
                          headers=operator).json()["items"][0]["id"] == pending
        assert client.get(f"/api/tasks/{pending}", headers=operator).json()["state"] == "pending"
        bad = client.get("/api/tasks", params={"state": "lost"}, headers=operator)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "state"
        assert client.get("/api/tasks/nope", headers=operator).status_code == 404
        # ...but change nothing
        for method, path in [("post", f"/api/tasks/{dead_id}/retry"), ("delete", f"/api/tasks/{dead_id}"),
                             ("post", "/api/tasks/dead/purge"), ("post", "/api/tasks/queue/pause"),
                             ("post", "/api/tasks/queue/resume")]:
            assert getattr(client, method)(path, headers=operator).status_code == 403, path
        assert client.get("/api/tasks/stats", headers=admin).json()["dead"] == 1

        # Admins change things
        assert client.post("/api/tasks/queue/pause", headers=admin).json()["paused"] is True
        assert container.huey.leased.is_paused()
        assert client.post("/api/tasks/queue/resume", headers=admin).json()["paused"] is False
        assert client.post(f"/api/tasks/{dead_id}/retry", headers=admin).status_code == 202
        assert client.get(f"/api/tasks/{dead_id}", headers=admin).json()["state"] == "pending"
        assert client.delete(f"/api/tasks/{pending}", headers=admin).status_code == 204
        assert client.get(f"/api/tasks/{pending}", headers=admin).status_code == 404
        _dead_letter(container, "again")
        assert client.post("/api/tasks/dead/purge", headers=admin).json() == {"deleted": 1}


@pytest.mark.parametrize("backend", ["redis"], indirect=True)  # the inspector itself is tested on both above
def test_the_cli_inspects_and_operates(world: PlaneWorld) -> None:
    container = world.container()
    dead_id = _dead_letter(container, "dead")
    env = {**os.environ, **world.env}

    def run(*args: str) -> str:
        result = invoke(["tasks", *args], env, world.directory)
        assert result.returncode == 0, result.stderr
        return result.stdout

    enqueued = run("enqueue", "test.record", json.dumps({"log": "/dev/null", "tag": "cli"}), "--priority", "low",
                   "--unique-key", "k1", "--unique-ttl", "1m")
    assert enqueued.startswith("enqueued ")
    assert run("enqueue", "test.record", "{}", "--unique-key", "k1", "--unique-ttl", "1m") == \
        enqueued.replace("enqueued", "already enqueued")
    stats = json.loads(run("stats"))
    assert stats["pending"]["low"] == 1 and stats["dead"] == 1
    assert dead_id in run("list", "dead")
    assert json.loads(run("show", dead_id))["error"] == "RuntimeError: boom"
    assert "paused" in run("pause") and container.huey.leased.is_paused()
    assert "resumed" in run("resume") and not container.huey.leased.is_paused()
    assert run("retry", dead_id) == f"enqueued {dead_id}\n"
    assert run("purge") == "deleted 0 dead task(s)\n"
    failed = subprocess.run([FLOWPLANE, "tasks", "enqueue", "no.such.task"], cwd=world.directory, env=env,
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and "unknown task 'no.such.task'" in failed.stderr


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # dead letters live in the database either way
def test_dead_letter_retention_purges_only_the_old(world: PlaneWorld) -> None:
    container = world.container()
    old, recent = _dead_letter(container, "old"), _dead_letter(container, "recent")
    with Session(container.engine) as session, session.begin():
        letter = session.get(DeadLetter, old)
        assert letter is not None
        letter.failed_at = datetime.now(UTC) - timedelta(days=15)
    assert dead.purge(container.engine, older_than=container.settings.tasks.dead_letter_retention) == 1
    assert dead.get(container.engine, old) is None and dead.get(container.engine, recent) is not None
