"""Registration as a workflow: the user row and the run commit together; the run finishes on the plane."""

import os
import signal
import uuid
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar.testing import TestClient
from sqlmodel import Session, select

from app.api.app import create_app
from app.db.models import Onboarding, User, WorkflowRun
from app.domain.users import Role
from tests.e2e.processes import poll
from tests.integration.accounts import login_as, new_user
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.workflows.conftest import finished_run
from tests.servers import closed_port


def test_registration_starts_the_workflow_and_it_runs_to_the_end(world: PlaneWorld, database_url: str) -> None:
    world.env["FLOWPLANE_DATABASE__URL"] = database_url
    container = world.container()
    world.start_worker(concurrency=2)
    with TestClient(create_app(container)) as client:
        response = client.post("/api/users", json=new_user(name="Ada Lovelace"))
        assert response.status_code == 201, response.text
        run_id = response.json()["workflow_run_id"]
        run = finished_run(container, run_id)
        admin = login_as(client, container, Role.ADMIN)
        shown = client.get(f"/api/runs/{run_id}", headers=admin).json()
    assert run["status"] == "succeeded", run
    steps = {step["id"]: step for step in shown["steps"]}
    assert set(steps) == {"announce", "welcome_email", "record_onboarding"}
    assert all(step["status"] == "succeeded" for step in steps.values())
    assert steps["announce"]["output"]["message_id"]
    mail_id = steps["welcome_email"]["output"]["message_id"]
    assert steps["welcome_email"]["attempts"] == 1 and steps["welcome_email"]["task_id"]
    assert steps["record_onboarding"]["started_at"] >= steps["welcome_email"]["finished_at"]  # it waited
    with Session(container.engine) as db:
        user = db.exec(select(User).where(User.id == uuid.UUID(run["input"]["user_id"]))).one()
        onboarding = db.get(Onboarding, user.id)
    assert onboarding is not None and onboarding.welcome_message_id == mail_id
    assert len(list((world.directory / "mail").iterdir())) == 1


def test_a_failed_registration_leaves_no_run_behind(world: PlaneWorld) -> None:
    container = world.container()
    with TestClient(create_app(container)) as client:
        first = client.post("/api/users", json=new_user(email="twice@example.com"))
        again = client.post("/api/users", json=new_user(email="twice@example.com"))
    assert first.status_code == 201 and again.status_code == 409
    with Session(container.engine) as db:
        assert len(db.exec(select(WorkflowRun)).all()) == 1  # the refused one rolled back with its run


class SlowFirstInbox:
    """An SMTP server that holds the first message (the worker is killed meanwhile) and accepts the rest."""

    def __init__(self) -> None:
        self.accepted: list[bytes] = []
        self.holding = False
        self.release = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        if not self.holding:
            self.holding = True
            while not self.release:  # the worker dies while it waits for our reply: never accepted
                await asyncio.sleep(0.05)
            return "451 try again later"
        self.accepted.append(envelope.content)
        return "250 OK"


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_worker_killed_during_the_welcome_mail_sends_exactly_one(world: PlaneWorld) -> None:
    inbox, port = SlowFirstInbox(), closed_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        # The dead worker's claim on the mail lapses 2 × 5 s + 5 s after it took it: then the next one sends
        world.env |= {"FLOWPLANE_EMAIL__BACKEND": "smtp", "FLOWPLANE_EMAIL__SMTP_PORT": str(port),
                      "FLOWPLANE_EMAIL__SMTP_TIMEOUT": "5s"}
        container = world.container()
        first = world.start_worker(concurrency=1)
        with TestClient(create_app(container)) as client:
            run_id = client.post("/api/users", json=new_user()).json()["workflow_run_id"]
        poll(lambda: inbox.holding or None, timeout=30, what="the welcome mail to be in flight")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        inbox.release = True
        world.start_worker(concurrency=1)  # takes the step over once the dead worker's lease runs out
        run = finished_run(container, run_id, timeout=60)
    finally:
        controller.stop()
    assert run["status"] == "succeeded", run
    assert len(inbox.accepted) == 1
    welcome = next(step for step in run["steps"] if step["id"] == "welcome_email")
    assert welcome["attempts"] >= 1 and welcome["status"] == "succeeded"
