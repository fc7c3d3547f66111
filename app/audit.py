"""The operator audit log: who changed what, when, and how it went. The dashboard records every action; the API
and the CLI record the operations that say so (waking a wait). One row per attempt, failures included."""

import getpass
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session

from app.db.models import OperatorAction

CLI_USER_ID = uuid.UUID(int=0)  # the CLI acts as no account: its rows carry the nil UUID and "cli:<OS login>"


def record_action(engine: Engine, *, user_id: uuid.UUID, email: str, action: str, target: str, ok: bool,
                  detail: str) -> None:
    """One row, in a transaction of its own: the action's own transaction has committed or failed already."""
    with Session(engine) as db, db.begin():
        add_action(db, user_id=user_id, email=email, action=action, target=target, ok=ok, detail=detail)


def add_action(db: Session, *, user_id: uuid.UUID, email: str, action: str, target: str, ok: bool,
               detail: str) -> None:
    """One row in ``db``'s transaction: with the change itself, where it has one, so neither is kept alone."""
    db.add(OperatorAction(at=datetime.now(UTC), user_id=user_id, email=_text(email, 254), action=_text(action, 64),
                          target=_text(target, 200), outcome="ok" if ok else "failed", detail=_text(detail, 2000)))


def _text(value: str, limit: int) -> str:
    # What an operator typed is kept as typed, but for NULs: PostgreSQL text cannot hold them
    return value.replace("\x00", "\\x00")[:limit]


def cli_email() -> str:
    """``cli:<login>``: who ran the command, as the operating system knows them."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        login = "unknown"
    return f"cli:{login}"
