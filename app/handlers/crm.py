"""The CRM consumer: every new user becomes a CRM contact, through a CRM client.

The outside CRM is the one part Flowplane fakes: :class:`FakeCrm` is an outside system with a store
of its own (a SQLite file), so it never shares a transaction with Flowplane. A real client implements
:class:`CrmClient` and is wired in ``bootstrap``."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, create_engine, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.schema import CreateTable
from sqlmodel import Session

from app.domain.events import EVENTS, EventCatalogue, InvalidEvent, UserCreated
from app.plane.envelope import Envelope
from app.plane.tasks.registry import PermanentError


class CrmClient(Protocol):
    def upsert_contact(self, *, email: str, name: str, external_id: str) -> None: ...


_metadata = MetaData()
contacts = Table(
    "contacts", _metadata,
    Column("email", String(254), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)


class FakeCrm:
    """Upserts by email, like a real CRM, so a redelivered event leaves one contact."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._engine: Engine | None = None

    def _connect(self) -> Engine:
        # Opened on first use: only the crm consumer needs it, and several processes may race to create it.
        if self._engine is None:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(f"sqlite:///{self._path}", connect_args={"timeout": 30})
            with engine.begin() as connection:
                connection.execute(CreateTable(contacts, if_not_exists=True))
            self._engine = engine
        return self._engine

    def upsert_contact(self, *, email: str, name: str, external_id: str) -> None:
        row = {"email": email, "name": name, "external_id": external_id, "updated_at": datetime.now(UTC)}
        statement = insert(contacts).values(**row)
        with self._connect().begin() as connection:
            connection.execute(statement.on_conflict_do_update(index_elements=["email"], set_=row))

    def contacts(self) -> list[dict[str, Any]]:
        with self._connect().connect() as connection:
            return [dict(row._mapping) for row in connection.execute(select(contacts).order_by(contacts.c.email))]


def upsert_contact(db: Session, event: Envelope, services: Any) -> None:
    if event.type != "user.created":
        return
    try:
        user = UserCreated.model_validate(EventCatalogue(EVENTS).validate(event.type, event.payload))
    except InvalidEvent as exc:
        raise PermanentError(str(exc)) from None
    services.crm.upsert_contact(email=str(user.email), name=user.name, external_id=user.user_id)
