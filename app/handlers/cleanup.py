"""``sessions.cleanup``: delete logins whose expiry has passed.

The query is written here rather than borrowed from ``app.auth.accounts``: auth and handlers are one layer and
may not import each other."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import col

from app.db.models import AuthSession
from app.plane.tasks.registry import TaskContext


def delete_expired(engine: Engine, now: datetime) -> int:
    """Sessions with ``expires_at <= now`` (authentication already refuses them): how many went."""
    with engine.begin() as connection:
        return int(connection.execute(delete(AuthSession).where(col(AuthSession.expires_at) <= now)).rowcount)


def cleanup_sessions(context: TaskContext, payload: dict[str, Any]) -> dict[str, int]:
    return {"deleted": delete_expired(context.services.engine, datetime.now(UTC))}
