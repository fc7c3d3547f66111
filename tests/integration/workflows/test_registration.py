"""Registration as a workflow: the user row and the run commit together; the run waits for the address to be
verified (a reminder after 48 hours, expiry after a week), moved through time by the test clock that the
worker processes read too, never by sleeping."""

import os
import re
import signal
import uuid
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar.testing import TestClient
from sqlmodel import Session, select

from app.api.app import create_app
from app.clock import TEST_CLOCK, FileOffsetClock
from app.db.models import Onboarding, User, WorkflowRun
from app.domain.users import Role
from app.workflows.views import run_detail
from tests.e2e.processes import poll
from tests.integration.accounts import login_as, new_user
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.workflows.conftest import PRODUCTION_AND_EMBEDDED, finished_run
from tests.servers import closed_port


def _links(world: PlaneWorld) -> list[str]:
    """The verification links in the mails written so far, oldest first."""
    directory = world.directory / "mail"
    mails = sorted(directory.glob("*.eml"), key=lambda path: path.stat().st_mtime_ns) if directory.exists() else []
    found = []
    for path in mails:
        body = BytesParser(policy=policy.default).parsebytes(path.read_bytes()).get_body(("plain",))
        found.extend(re.findall(r"https?://\S+/api/users/verify\?token=([\w-]+)", body.get_content() if body else ""))
    return found


def _steps(client: TestClient[Any], admin: dict[str, str], run_id: str) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in client.get(f"/api/runs/{run_id}", headers=admin).json()["steps"]}


def _parked(client: TestClient[Any], admin: dict[str, str], run_id: str, step_id: str) -> bool | None:
    step = _steps(client, admin, run_id)[step_id]
    return step["status"] == "waiting" and step["awaiting"] is not None or None


def _registered(world: PlaneWorld, database_url: str, monkeypatch: pytest.MonkeyPatch) -> FileOffsetClock:
    clock_file = world.directory / "clock"
    world.env |= {"FLOWPLANE_DATABASE__URL": database_url, TEST_CLOCK: str(clock_file)}
    monkeypatch.setenv(TEST_CLOCK, str(clock_file))  # this process's containers read the same clock
    return FileOffsetClock(clock_file)


@pytest.mark.parametrize(("backend", "database_url"), PRODUCTION_AND_EMBEDDED, indirect=True)
def test_a_user_who_verifies_finishes_the_registration(world: PlaneWorld, database_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _registered(world, database_url, monkeypatch)
    container = world.container()
    world.start_worker(concurrency=2)
    with TestClient(create_app(container)) as client:
        response = client.post("/api/users", json=new_user(name="Ada Lovelace"))
        assert response.status_code == 201, response.text
        run_id = response.json()["workflow_run_id"]
        admin = login_as(client, container, Role.ADMIN)
        # Given the welcome mail went out with its link, and the run parked waiting for the click
        poll(lambda: _parked(client, admin, run_id, "await_verification"), timeout=30, what="the run to park")
        [token] = _links(world)
        # When the user follows it (twice: a double click)
        for _ in range(2):
            assert client.post("/api/users/verify", json={"token": token}).status_code == 200
        run = finished_run(container, run_id)
        steps = _steps(client, admin, run_id)
    # Then the run finished on the verified path, once
    assert run["status"] == "succeeded", run
    assert {step_id: step["status"] for step_id, step in steps.items()} == {
        "announce": "succeeded", "welcome_email": "succeeded", "await_verification": "succeeded",
        "remind": "skipped", "await_after_reminder": "skipped", "expire": "skipped", "announce_expired": "skipped",
        "announce_verified": "succeeded", "record_onboarding": "succeeded"}
    assert steps["await_verification"]["output"]["timed_out"] is False
    assert steps["await_verification"]["output"]["event"]["user_id"] == run["input"]["user_id"]
    mail_id = steps["welcome_email"]["output"]["message_id"]
    with Session(container.engine) as db:
        user = db.exec(select(User).where(User.id == uuid.UUID(run["input"]["user_id"]))).one()
        onboarding = db.get(Onboarding, user.id)
    assert onboarding is not None and onboarding.welcome_message_id == mail_id and user.email_verified_at
    assert len(_links(world)) == 1  # one mail: no reminder


@pytest.mark.parametrize(("backend", "database_url"), PRODUCTION_AND_EMBEDDED, indirect=True)
def test_a_user_who_verifies_after_the_reminder(world: PlaneWorld, database_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _registered(world, database_url, monkeypatch)
    container = world.container()
    world.start_worker(concurrency=2)
    with TestClient(create_app(container)) as client:
        run_id = client.post("/api/users", json=new_user()).json()["workflow_run_id"]
        admin = login_as(client, container, Role.ADMIN)
        poll(lambda: _parked(client, admin, run_id, "await_verification"), timeout=30, what="the first wait")
        # When 48 hours pass without a click: the reminder goes out and the run waits again
        clock.advance(timedelta(hours=48))
        poll(lambda: _parked(client, admin, run_id, "await_after_reminder"), timeout=30, what="the second wait")
        welcome_token, reminder_token = _links(world)
        # The welcome's link expired with its wait; the reminder's works
        assert client.post("/api/users/verify", json={"token": welcome_token}).status_code == 410
        assert client.post("/api/users/verify", json={"token": reminder_token}).status_code == 200
        run = finished_run(container, run_id)
        steps = _steps(client, admin, run_id)
    assert run["status"] == "succeeded"
    assert steps["await_verification"]["output"] == {"timed_out": True}
    assert steps["remind"]["output"]["sent"] is True
    assert steps["await_after_reminder"]["output"]["timed_out"] is False
    assert (steps["announce_verified"]["status"], steps["expire"]["status"]) == ("succeeded", "skipped")


@pytest.mark.parametrize(("backend", "database_url"), PRODUCTION_AND_EMBEDDED, indirect=True)
def test_a_user_who_never_verifies_is_expired(world: PlaneWorld, database_url: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _registered(world, database_url, monkeypatch)
    container = world.container()
    world.start_worker(concurrency=2)
    body = new_user()
    with TestClient(create_app(container)) as client:
        run_id = client.post("/api/users", json=body).json()["workflow_run_id"]
        admin = login_as(client, container, Role.ADMIN)
        poll(lambda: _parked(client, admin, run_id, "await_verification"), timeout=30, what="the first wait")
        clock.advance(timedelta(hours=48))
        poll(lambda: _parked(client, admin, run_id, "await_after_reminder"), timeout=30, what="the second wait")
        # When five more days pass without a click
        clock.advance(timedelta(days=5))
        run = finished_run(container, run_id)
        steps = _steps(client, admin, run_id)
        login = client.post("/api/sessions", json={"email": body["email"], "password": body["password"]})
    # Then the account is deactivated and user.expired announced; it cannot log in
    assert run["status"] == "succeeded"
    assert steps["expire"]["output"] == {"expired": True}
    assert (steps["announce_expired"]["status"], steps["announce_verified"]["status"]) == ("succeeded", "skipped")
    assert steps["record_onboarding"]["status"] == "skipped"
    assert login.status_code == 403, login.text
    with Session(container.engine) as db:
        assert db.exec(select(User).where(User.email == body["email"].lower())).one().deactivated_at is not None


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_click_before_the_wait_parks_is_not_missed(world: PlaneWorld, database_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _registered(world, database_url, monkeypatch)
    container = world.container()
    container.huey.leased.pause()  # the welcome mail's step cannot finish: the wait cannot park yet
    world.start_worker(concurrency=2)
    with TestClient(create_app(container)) as client:
        response = client.post("/api/users", json=new_user())
        run_id, user_id = response.json()["workflow_run_id"], response.json()["user"]["id"]
        admin = login_as(client, container, Role.ADMIN)
        # Given the user's address is verified before the wait parks (a click within a second of the mail)
        container.plane.publish("user.email_verified", {"user_id": user_id, "email": "x@example.com",
                                                        "verified_at": "2026-12-02T12:00:00+00:00"})
        assert _steps(client, admin, run_id)["await_verification"]["awaiting"] is None
        # When the mail's step finishes and the wait starts
        container.huey.leased.resume()
        run = finished_run(container, run_id)
    # Then the wait is over at once: the event published since the run started counts
    assert run["status"] == "succeeded"
    waited = next(step for step in run["steps"] if step["id"] == "await_verification")
    assert waited["output"]["timed_out"] is False


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

        def welcomed() -> dict[str, Any] | None:
            detail = run_detail(container.engine, run_id) or {"steps": []}
            step = next((step for step in detail["steps"] if step["id"] == "welcome_email"), None)
            return step if step and step["status"] == "succeeded" else None

        welcome = poll(welcomed, timeout=60, what="the welcome mail's step to succeed")
    finally:
        controller.stop()
    assert len(inbox.accepted) == 1
    assert welcome["attempts"] >= 1
