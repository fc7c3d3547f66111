"""The analytics consumer: how many events of each type per day (UTC)."""

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app.db.models import EventCount
from app.plane.envelope import Envelope


def count_event(db: Session, event: Envelope, services: Any) -> None:
    count_events(db, [event], services)


def count_events(db: Session, events: Sequence[Envelope], services: Any) -> None:
    table = EventCount.__table__  # type: ignore[attr-defined]
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    counts = Counter((event.type, event.created_at.date()) for event in events)
    for (event_type, day), count in sorted(counts.items()):  # sorted: concurrent consumers lock rows in one order
        statement = insert(table).values(event_type=event_type, day=day, count=count)
        db.execute(statement.on_conflict_do_update(index_elements=["event_type", "day"],
                                                   set_={"count": table.c.count + count}))
