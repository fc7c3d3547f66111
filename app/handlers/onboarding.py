"""``users.record_onboarding``: note that a user's welcome mail went out (the registration workflow's join)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from app.db.models import Onboarding, User
from app.plane.tasks.registry import PermanentError, TaskContext


def record_onboarding(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        user_id, message_id = uuid.UUID(str(payload["user_id"])), str(payload["message_id"])
    except (KeyError, ValueError) as exc:
        raise PermanentError(f"payload needs user_id (a UUID) and message_id: {exc}") from None
    with Session(context.services.engine) as session, session.begin():
        if session.get(User, user_id) is None:
            raise PermanentError(f"no user {user_id}")
        # merge: a re-run after a crash records the same row again, never a second one
        session.merge(Onboarding(user_id=user_id, welcome_message_id=message_id, recorded_at=datetime.now(UTC)))
    return {"user_id": str(user_id), "welcome_message_id": message_id}
