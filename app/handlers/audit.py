"""The audit consumer: an append-only log of every event."""

import json
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from app.db.models import AuditEntry
from app.plane.envelope import Envelope


def append_audit(db: Session, event: Envelope, services: Any) -> None:
    db.add(AuditEntry(message_id=event.id, event_type=event.type, correlation_id=event.correlation_id,
                      occurred_at=event.created_at, received_at=datetime.now(UTC),
                      payload=json.dumps(event.payload, sort_keys=True)))
