"""Verification links for the mails that carry one: a new token per mail, of which only the digest is stored.

Written here rather than borrowed from ``app.auth``: auth and handlers are one layer and may not import each
other. The token's shape and digest are the domain's (``app.domain.verification``), shared with the check."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine
from sqlmodel import Session

from app.db.models import EmailVerification, User
from app.domain import verification
from app.durations import parse_duration
from app.plane.tasks.registry import PermanentError

VERIFY_PATH = "/api/users/verify"


@dataclass(frozen=True)
class Link:
    url: str  # carries the token: it goes into the mail's body and nowhere else
    expires_at: datetime


def issue(db: Session, user_id: uuid.UUID, now: datetime, valid_for: timedelta) -> str:
    """A new token for ``user_id``, valid until ``now + valid_for``, added to ``db``'s transaction."""
    token = verification.new_token()
    db.add(EmailVerification(token_digest=verification.digest(token), user_id=user_id, created_at=now,
                             expires_at=now + valid_for))
    return token


def link_for(engine: Engine, user_id: uuid.UUID, *, now: datetime, valid_for: timedelta,
             public_url: str) -> Link | str:
    """A fresh link for a user who still has to verify; otherwise why not (``already verified``,
    ``deactivated``). An unknown user is a PermanentError."""
    with Session(engine) as db, db.begin():
        user = db.get(User, user_id)
        if user is None:
            raise PermanentError(f"no user {user_id}")
        if user.deactivated_at is not None:
            return "deactivated"
        if user.email_verified_at is not None:
            return "already verified"
        token = issue(db, user_id, now, valid_for)
    return Link(f"{public_url.rstrip('/')}{VERIFY_PATH}?{urlencode({'token': token})}", now + valid_for)


def user_and_validity(payload: dict[str, Any]) -> tuple[uuid.UUID, timedelta]:
    """The payload's ``user_id`` and ``valid_for`` (a duration like "48h"); PermanentError if unusable."""
    try:
        user_id, valid_for = uuid.UUID(str(payload["user_id"])), parse_duration(str(payload["valid_for"]))
    except KeyError as missing:
        raise PermanentError(f"payload has no {missing}") from None
    except ValueError as exc:
        raise PermanentError(f"payload needs user_id (a UUID) and valid_for (a duration): {exc}") from None
    if valid_for <= timedelta(0):
        raise PermanentError("valid_for must be a positive duration")
    return user_id, valid_for
