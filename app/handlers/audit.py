"""The audit consumer: an append-only log of every event."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from app.db.models import AuditEntry
from app.plane.envelope import Envelope


def append_audit(db: Session, event: Envelope, services: Any) -> None:
    append_audit_batch(db, [event], services)


def append_audit_batch(db: Session, events: Sequence[Envelope], services: Any) -> None:
    received_at = datetime.now(UTC)
    db.connection().execute(insert(AuditEntry.__table__), [  # type: ignore[attr-defined]  # one executemany
        {"message_id": event.id, "event_type": event.type, "correlation_id": event.correlation_id,
         "occurred_at": event.created_at, "received_at": received_at,
         "payload": json.dumps(event.payload, sort_keys=True)} for event in events])
