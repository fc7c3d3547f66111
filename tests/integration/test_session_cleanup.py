"""Expired sessions are deleted, live ones kept; the CLI reports how many went."""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import delete, select

from app.auth import tokens
from app.auth.accounts import create_user, delete_expired_sessions
from app.bootstrap import Container
from app.db.models import AuthSession, User

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.integers(min_value=-10**7, max_value=10**7), max_size=12))
def test_cleanup_deletes_exactly_the_expired_sessions(container: Container, offsets: list[int]) -> None:
    with container.new_session() as db, db.begin():
        db.exec(delete(AuthSession))
        db.exec(delete(User))
        user = create_user(db, container.passwords, email="c@example.com", name="C", password="long enough pw")
        for offset in offsets:
            db.add(AuthSession(user_id=user.id, token_digest=tokens.digest(tokens.new_token()), created_at=NOW,
                               expires_at=NOW + timedelta(seconds=offset)))
    with container.new_session() as db:
        deleted = delete_expired_sessions(db, now=NOW)
        again = delete_expired_sessions(db, now=NOW)
        left = [s.expires_at for s in db.exec(select(AuthSession)).all()]
    assert deleted == sum(1 for offset in offsets if offset <= 0)
    assert again == 0
    assert sorted(left) == sorted(NOW + timedelta(seconds=o) for o in offsets if o > 0)
