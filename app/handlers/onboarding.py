"""``users.record_onboarding``: note that a user's welcome mail went out (the registration workflow's join)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app.db.models import Onboarding, User
from app.plane.tasks.registry import PermanentError, TaskContext


def record_onboarding(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        user_id, message_id = uuid.UUID(str(payload["user_id"])), str(payload["message_id"])
    except (KeyError, ValueError) as exc:
        raise PermanentError(f"payload needs user_id (a UUID) and message_id: {exc}") from None
    table = Onboarding.__table__  # type: ignore[attr-defined]
    row = {"welcome_message_id": message_id, "recorded_at": datetime.now(UTC)}
    with Session(context.services.engine) as session, session.begin():
        if session.get(User, user_id) is None:
            raise PermanentError(f"no user {user_id}")
        # One statement: a re-run, or a copy running at once, lands on the same row instead of a duplicate key
        insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(table).values(user_id=user_id, **row)
                        .on_conflict_do_update(index_elements=["user_id"], set_=row))
    return {"user_id": str(user_id), "welcome_message_id": message_id}
