"""``users.expire``: deactivate an account whose address was never verified, and end its sessions.

One conditional update decides, so a verification landing at the same moment either wins (not expired) or
finds the account deactivated: never both. Run again, it answers as the first run did."""

import uuid
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col

from app.db.models import AuthSession, User
from app.plane.tasks.registry import PermanentError, TaskContext


def expire_user(context: TaskContext, payload: dict[str, Any]) -> dict[str, bool]:
    try:
        user_id = uuid.UUID(str(payload["user_id"]))
    except (KeyError, ValueError) as exc:
        raise PermanentError(f"payload needs user_id (a UUID): {exc}") from None
    with Session(context.services.engine) as db, db.begin():
        deactivated = db.connection().execute(
            update(User).where(col(User.id) == user_id, col(User.email_verified_at).is_(None),
                               col(User.deactivated_at).is_(None))
            .values(deactivated_at=context.services.clock.now()))
        if deactivated.rowcount == 1:
            db.connection().execute(delete(AuthSession).where(col(AuthSession.user_id) == user_id))
            return {"expired": True}
        user = db.get(User, user_id)
        if user is None:
            raise PermanentError(f"no user {user_id}")
        return {"expired": user.deactivated_at is not None}
