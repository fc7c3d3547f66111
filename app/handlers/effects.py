"""What the event consumers applied, read back for operators: each consumer's messages applied in the last
day, the analytics counts and the latest audit entries (the CLI's `events applied` and the dashboard's Events
page). Every read is bounded by an index: the page asks every few seconds, over tables kept for weeks."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.db.models import AuditEntry, ConsumedMessage, EventCount

APPLIED_WINDOW = timedelta(days=1)


def consumer_effects(engine: Engine, consumers: list[str], *, now: datetime, days: int = 7,
                     limit: int = 10) -> dict[str, Any]:
    today, since = now.date(), now - APPLIED_WINDOW
    with engine.connect() as connection:
        applied = {name: (count, last) for name, count, last in connection.execute(
            select(col(ConsumedMessage.consumer), func.count(), func.max(col(ConsumedMessage.processed_at)))
            .where(col(ConsumedMessage.processed_at) >= since)
            .group_by(col(ConsumedMessage.consumer)))}
        counts = connection.execute(
            select(col(EventCount.day), col(EventCount.event_type), col(EventCount.count))
            .where(col(EventCount.day) > today - timedelta(days=days))
            .order_by(col(EventCount.day).desc(), col(EventCount.event_type))).all()
        audit = connection.execute(
            select(col(AuditEntry.received_at), col(AuditEntry.event_type), col(AuditEntry.correlation_id),
                   col(AuditEntry.message_id))
            .order_by(col(AuditEntry.id).desc()).limit(limit)).all()
    return {
        "applied_since": since.isoformat(),
        "consumers": {name: {"applied": applied.get(name, (0, None))[0],
                             "last_applied_at": _iso(applied.get(name, (0, None))[1])} for name in consumers},
        "analytics": [{"day": day.isoformat(), "event_type": event_type, "count": count}
                      for day, event_type, count in counts],
        "audit": [{"received_at": _iso(received_at), "event_type": event_type, "correlation_id": correlation_id,
                   "message_id": message_id} for received_at, event_type, correlation_id, message_id in audit],
    }


def crm_contacts(crm: object, *, limit: int = 10) -> list[dict[str, Any]] | str:
    """The contacts changed last, when the CRM client can list them (the stand-in can; a real CRM is read in the
    CRM), else what to do instead."""
    latest = getattr(crm, "latest_contacts", None)
    if latest is None:
        return "kept by the CRM itself"
    rows = latest(limit)
    if rows is None:
        return (f"no stand-in CRM file at {getattr(crm, 'path', '')} on this host: the crm consumer writes it "
                "where it runs, from its first event on")
    return [{key: _iso(value) if hasattr(value, "isoformat") else value for key, value in row.items()} for row in rows]


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
