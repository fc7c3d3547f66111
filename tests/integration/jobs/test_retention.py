"""``data.retention`` deletes only what is both finished (or plain history) and older than its setting."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from app.bootstrap import Container
from app.db.models import (
    ConsumedMessage,
    DeadLetter,
    EmailVerification,
    ScheduleFire,
    StepRun,
    User,
    WorkflowRun,
    WorkflowSignal,
    WorkflowVersion,
)
from app.handlers import retention
from tests.integration.jobs.conftest import RunTask

DAY = timedelta(days=1)  # every retention setting defaults to 30 days (dead letters: 14)


def _run(session: Session, status: str, age: timedelta, finished: bool, steps: int = 2) -> str:
    run_id, at = uuid.uuid4().hex, datetime.now(UTC) - age
    session.add(WorkflowRun(id=run_id, workflow="w", version="v1", status=status, input="{}", created_at=at,
                            updated_at=at, finished_at=at if finished else None))
    session.flush()
    session.add_all(StepRun(run_id=run_id, step_id=f"s{n}", kind="task", target="plane.noop", status="succeeded",
                            updated_at=at) for n in range(steps))
    return run_id


def _history(session: Session, name: str, age: timedelta) -> None:
    at = datetime.now(UTC) - age
    session.add(DeadLetter(id=name, queue="default", task="plane.noop", envelope="{}", options="{}", error="e",
                           traceback="t", attempts=1, first_enqueued_at=at, failed_at=at))
    session.add(ScheduleFire(schedule=name, scheduled_at=at, fired_at=at, replica="r", trigger="cron",
                             outcome="dispatched", target_kind="task"))
    session.add(ConsumedMessage(consumer="analytics", message_id=name, processed_at=at))
    user = User(email=f"{name}@example.com", name=name, password_hash="x", created_at=at)
    session.add(user)
    session.flush()
    session.add(EmailVerification(token_digest=name, user_id=user.id, created_at=at - DAY, expires_at=at))
    session.add(WorkflowSignal(event_type="user.email_verified", match_key=name, message_id=name, payload="{}",
                               created_at=at))


def test_only_old_finished_history_goes(container: Container, run_task: RunTask,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "BATCH", 2)  # three old runs: two transactions
    with Session(container.engine) as session, session.begin():
        session.add(WorkflowVersion(version="v1", name="w", path="w.toml", source="", created_at=datetime.now(UTC)))
        session.flush()
        for status, age, steps in [("succeeded", 31 * DAY, 2), ("failed", 400 * DAY, 2), ("succeeded", 31 * DAY, 0)]:
            _run(session, status, age, True, steps)  # these three go
        kept = [_run(session, "succeeded", 29 * DAY, True), _run(session, "failed", 29 * DAY, True),
                _run(session, "running", 400 * DAY, False),
                _run(session, "running", 400 * DAY, True)]  # a retried run: running wins over any stale date
        _history(session, "old", 31 * DAY)
        _history(session, "recent", 13 * DAY)

    assert run_task("data.retention", {}) == {"workflow_runs": 3, "step_runs": 4, "dead_letters": 1,
                                              "schedule_fires": 1, "consumed_messages": 1, "email_verifications": 1,
                                              "workflow_signals": 1}
    assert run_task("data.retention", {}) == dict.fromkeys(
        ["workflow_runs", "step_runs", "dead_letters", "schedule_fires", "consumed_messages", "email_verifications",
         "workflow_signals"], 0)

    with Session(container.engine) as session:
        assert sorted(session.exec(select(WorkflowRun.id)).all()) == sorted(kept)
        assert sorted(set(session.exec(select(StepRun.run_id)).all())) == sorted(kept)
        assert session.exec(select(DeadLetter.id)).all() == ["recent"]
        assert session.exec(select(ScheduleFire.schedule)).all() == ["recent"]
        assert session.exec(select(ConsumedMessage.message_id)).all() == ["recent"]
        assert session.exec(select(EmailVerification.token_digest)).all() == ["recent"]  # expired 13 days ago
        assert session.exec(select(WorkflowSignal.match_key)).all() == ["recent"]
