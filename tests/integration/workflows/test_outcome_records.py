"""What the runner records, without workers: a late `running` mark never hides a retry, and a start that
rolled back leaves nothing behind that a later start relies on."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from app.bootstrap import Container
from app.plane.envelope import Envelope
from app.workflows.views import run_detail


def _input() -> dict[str, Any]:
    return {"user_id": str(uuid.uuid4()), "email": "someone@example.com", "name": "Someone"}


def _step(container: Container, run_id: str, step_id: str) -> dict[str, Any]:
    detail = run_detail(container.engine, run_id)
    assert detail is not None
    return next(step for step in detail["steps"] if step["id"] == step_id)


def test_a_late_running_mark_does_not_hide_a_retry(container: Container) -> None:
    with Session(container.engine, expire_on_commit=False) as db, db.begin():
        run_id = container.runner.start(db, "user_registration", _input()).run_id
    first = Envelope(kind="task", type="email.welcome", payload={}, run_id=run_id, step_id="welcome_email")
    began = datetime.now(UTC)
    # Given attempt 1 failed and its retry is recorded, when the watcher's `running` mark for it comes late
    container.runner.step_retrying(first, "SMTPServerDisconnected: the server hung up", began)
    container.runner.step_started(first, began)
    # Then the step still shows the retry
    step = _step(container, run_id, "welcome_email")
    assert (step["status"], step["attempts"]) == ("retrying", 1)
    assert step["last_error"] == "SMTPServerDisconnected: the server hung up"
    # And the next attempt, once it runs long enough, shows as running
    container.runner.step_started(replace(first, attempt=2), datetime.now(UTC))
    step = _step(container, run_id, "welcome_email")
    assert (step["status"], step["attempts"]) == ("running", 2)
    # And a mark of attempt 1 that arrives even later does not take the count back
    container.runner.step_started(first, began)
    assert _step(container, run_id, "welcome_email")["attempts"] == 2


def test_a_rolled_back_start_does_not_pass_its_definition_for_stored(container: Container) -> None:
    with Session(container.engine) as db:
        with db.begin():
            container.runner.start(db, "user_registration", _input())
            db.rollback()  # the definition's text went with it
        with db.begin():
            pass  # the same session commits something else later
    with Session(container.engine, expire_on_commit=False) as db, db.begin():
        started = container.runner.start(db, "user_registration", _input())  # stores the text again
    assert container.runner.status(started.run_id) == "running"
