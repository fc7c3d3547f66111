"""Email verification: a link's token marks its user verified, and ``user.email_verified`` is published in the
same transaction (the outbox), so the event exists exactly when the verification does.

Answers, in the order they are checked: malformed (no look-up), unknown, deactivated account, already used
(success again: a second click changes nothing and publishes nothing), expired, verified."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.db.models import EmailVerification, User
from app.domain import verification
from app.domain.errors import AccountDeactivated, ExpiredToken, UnknownToken
from app.plane.plane import Plane

EVENT = "user.email_verified"


@dataclass(frozen=True)
class Verified:
    user_id: uuid.UUID
    email: str
    email_verified_at: datetime
    already: bool  # verified before this request: nothing changed, nothing published


def verify(db: Session, token: str, now: datetime, plane: Plane) -> Verified:
    """Verify ``token``'s user in ``db``'s transaction (the caller commits, or rolls back on an error: then
    nothing changed). Raises MalformedToken, UnknownToken, AccountDeactivated or ExpiredToken."""
    token_digest = verification.digest(verification.parse(token))
    row = db.exec(select(EmailVerification, User).join(User, col(User.id) == col(EmailVerification.user_id))
                  .where(col(EmailVerification.token_digest) == token_digest)).first()
    if row is None:
        raise UnknownToken()
    link, user = row
    if user.deactivated_at is not None:
        raise AccountDeactivated()
    if link.used_at is not None:
        return _already(db, user)
    if link.expires_at <= now:
        raise ExpiredToken()
    # Conditional updates: of two clicks at once (or a click and the expiry job), one changes the row and the
    # other, serialised behind it by the row lock (PostgreSQL) or the write lock (SQLite), changes nothing.
    used = db.connection().execute(
        update(EmailVerification).values(used_at=now)
        .where(col(EmailVerification.token_digest) == token_digest, col(EmailVerification.used_at).is_(None)))
    if used.rowcount != 1:
        return _already(db, user)
    marked = db.connection().execute(
        update(User).values(email_verified_at=now)
        .where(col(User.id) == user.id, col(User.email_verified_at).is_(None), col(User.deactivated_at).is_(None)))
    if marked.rowcount != 1:
        return _already(db, user)  # verified through another link before: this one is used up all the same
    plane.publish(EVENT, {"user_id": str(user.id), "email": user.email, "verified_at": now.isoformat()}, session=db)
    return Verified(user.id, user.email, now, already=False)


def _already(db: Session, user: User) -> Verified:
    db.refresh(user)  # what the statement that won wrote
    if user.deactivated_at is not None:
        raise AccountDeactivated()
    assert user.email_verified_at is not None, "a used link's user is verified"
    return Verified(user.id, user.email, user.email_verified_at, already=True)
