"""Verification tokens for the mails that carry a link: a new one per mail, of which only the digest is stored.

Written here rather than borrowed from ``app.auth``: auth and handlers are one layer and may not import each
other. The token's shape and digest are the domain's (``app.domain.verification``), shared with the check."""

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session

from app.db.models import EmailVerification
from app.domain import verification


def issue(db: Session, user_id: uuid.UUID, now: datetime, valid_for: timedelta) -> str:
    """A new token for ``user_id``, valid until ``now + valid_for``, added to ``db``'s transaction."""
    token = verification.new_token()
    db.add(EmailVerification(token_digest=verification.digest(token), user_id=user_id, created_at=now,
                             expires_at=now + valid_for))
    return token


