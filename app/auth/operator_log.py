"""The operator audit log: who changed what, from the dashboard or the API, and how it went."""

import logging
from datetime import UTC, datetime

from sqlmodel import Session

from app.auth.accounts import Principal
from app.db.models import OperatorAction

log = logging.getLogger(__name__)


def record(db: Session, principal: Principal, action: str, target: str, *, ok: bool, detail: str) -> None:
    """Add the record to ``db``'s transaction: with the change itself where it has one, so neither is kept
    without the other."""
    user = principal.user
    db.add(OperatorAction(at=datetime.now(UTC), user_id=user.id, email=user.email, action=action,
                          target=target[:200], outcome="ok" if ok else "failed", detail=detail[:2000]))
    log.info("operator action %s on %r by %s: %s", action, target, user.email, "ok" if ok else "failed")
