"""``sessions.cleanup`` deletes exactly the expired sessions and nothing else; a re-run changes nothing."""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import Session, select

from app.auth import tokens
from app.bootstrap import Container
from app.db.models import AuthSession, User
from app.handlers.cleanup import delete_expired
from tests.integration.jobs.conftest import RunTask

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _user(session: Session) -> User:
    user = User(email="cleanup@example.com", name="C", password_hash="x", created_at=NOW)
    session.add(user)
    session.flush()
    return user


def _sessions(session: Session, user: User, expiries: list[datetime]) -> None:
    session.add_all(AuthSession(user_id=user.id, token_digest=tokens.digest(tokens.new_token()), created_at=NOW,
                                expires_at=expires_at) for expires_at in expiries)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.integers(min_value=-3 * 86_400_000_000, max_value=3 * 86_400_000_000), max_size=10))
def test_exactly_the_expired_sessions_go(container: Container, offsets: list[int]) -> None:
    # Given sessions expiring up to three days either side of now, to the microsecond (now itself included)
    expiries = [NOW + timedelta(microseconds=offset) for offset in [0, *offsets]]
    with Session(container.engine) as session, session.begin():
        session.execute(delete(AuthSession))
        session.execute(delete(User))
        _sessions(session, _user(session), expiries)

    deleted, again = delete_expired(container.engine, NOW), delete_expired(container.engine, NOW)

    with Session(container.engine) as session:
        left = sorted(session.exec(select(AuthSession.expires_at)).all())
        users = len(session.exec(select(User)).all())
    assert deleted == sum(1 for expires_at in expiries if expires_at <= NOW) and again == 0
    assert left == sorted(expires_at for expires_at in expiries if expires_at > NOW) and users == 1


def test_the_task_deletes_what_expired_before_it_ran(container: Container, run_task: RunTask) -> None:
    now = datetime.now(UTC)
    with Session(container.engine) as session, session.begin():
        _sessions(session, _user(session),
                  [now - timedelta(days=3), now - timedelta(seconds=1), now + timedelta(hours=1)])
    assert run_task("sessions.cleanup", {}) == {"deleted": 2}
    assert run_task("sessions.cleanup", {}) == {"deleted": 0}
    with Session(container.engine) as session:
        assert session.exec(select(AuthSession.expires_at)).all() == [now + timedelta(hours=1)]
