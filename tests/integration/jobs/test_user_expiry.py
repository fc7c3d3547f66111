"""``users.expire`` deactivates an account still unverified, ends its sessions, and answers the same when run
again; a verified account is left alone. On SQLite and PostgreSQL."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.auth.accounts import create_user, log_in
from app.bootstrap import Container
from app.db.models import AuthSession, User
from app.domain.errors import AccountDeactivated
from app.plane.tasks.registry import PermanentError
from tests.integration.accounts import PASSWORD
from tests.integration.jobs.conftest import RunTask


def _user_with_sessions(container: Container, *, verified: bool) -> uuid.UUID:
    email = f"u-{uuid.uuid4().hex[:10]}@example.com"
    with Session(container.engine) as db, db.begin():
        user_id = create_user(db, container.passwords, email=email, name="U", password=PASSWORD,
                              verified=verified).id
    for _ in range(2):
        with Session(container.engine) as db:
            log_in(db, container.passwords, email=email, password=PASSWORD, session_ttl=timedelta(hours=1))
    return user_id


def _state(container: Container, user_id: uuid.UUID) -> tuple[datetime | None, int]:
    with Session(container.engine) as db:
        user = db.get(User, user_id)
        sessions = db.exec(select(func.count()).select_from(AuthSession)
                           .where(col(AuthSession.user_id) == user_id)).one()
    assert user is not None
    return user.deactivated_at, sessions


def test_an_unverified_account_expires_once_and_loses_its_sessions(container: Container, run_task: RunTask) -> None:
    user_id = _user_with_sessions(container, verified=False)
    before = datetime.now(UTC)
    assert run_task("users.expire", {"user_id": str(user_id)}) == {"expired": True}
    deactivated_at, sessions = _state(container, user_id)
    assert deactivated_at is not None and deactivated_at >= before and sessions == 0
    # Run again (a retry, a redelivery): the same answer, and the first time kept
    assert run_task("users.expire", {"user_id": str(user_id)}) == {"expired": True}
    assert _state(container, user_id) == (deactivated_at, 0)
    with Session(container.engine) as db:
        email = db.exec(select(User.email).where(col(User.id) == user_id)).one()
    with Session(container.engine) as db, pytest.raises(AccountDeactivated):
        log_in(db, container.passwords, email=email, password=PASSWORD, session_ttl=timedelta(hours=1))


def test_a_verified_account_does_not_expire(container: Container, run_task: RunTask) -> None:
    user_id = _user_with_sessions(container, verified=True)
    assert run_task("users.expire", {"user_id": str(user_id)}) == {"expired": False}
    assert _state(container, user_id) == (None, 2)


@pytest.mark.parametrize("payload", [{}, {"user_id": "nope"}, {"user_id": str(uuid.uuid4())}])
def test_no_such_user_is_a_permanent_error(run_task: RunTask, payload: dict[str, str]) -> None:
    with pytest.raises(PermanentError):
        run_task("users.expire", payload)
