"""The analytics consumer: how many events of each type per day (UTC)."""

from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app.db.models import EventCount
from app.plane.envelope import Envelope


def count_event(db: Session, event: Envelope, services: Any) -> None:
    table = EventCount.__table__  # type: ignore[attr-defined]
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(event_type=event.type, day=event.created_at.date(), count=1)
    db.execute(statement.on_conflict_do_update(index_elements=["event_type", "day"],
                                               set_={"count": table.c.count + 1}))
