"""What the event consumers applied, read back for operators: each consumer's applied messages, the
analytics counts and the latest audit entries (the CLI's `events applied` and the dashboard's Events page)."""

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.db.models import AuditEntry, ConsumedMessage, EventCount


def consumer_effects(engine: Engine, consumers: list[str], *, today: date, days: int = 7,
                     limit: int = 10) -> dict[str, Any]:
    with engine.connect() as connection:
        applied = {name: (count, last) for name, count, last in connection.execute(
            select(col(ConsumedMessage.consumer), func.count(), func.max(col(ConsumedMessage.processed_at)))
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
        "consumers": {name: {"applied": applied.get(name, (0, None))[0],
                             "last_applied_at": _iso(applied.get(name, (0, None))[1])} for name in consumers},
        "analytics": [{"day": day.isoformat(), "event_type": event_type, "count": count}
                      for day, event_type, count in counts],
        "audit": [{"received_at": _iso(received_at), "event_type": event_type, "correlation_id": correlation_id,
                   "message_id": message_id} for received_at, event_type, correlation_id, message_id in audit],
    }


def crm_contacts(crm: object, *, limit: int = 10) -> list[dict[str, Any]] | None:
    """The latest contacts, when the CRM client can list them (the stand-in can; a real CRM is read in the CRM)."""
    listing = getattr(crm, "contacts", None)
    if listing is None:
        return None
    rows = sorted(listing(), key=lambda contact: str(contact.get("updated_at")), reverse=True)[:limit]
    return [{key: _iso(value) if hasattr(value, "isoformat") else value for key, value in row.items()} for row in rows]


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
