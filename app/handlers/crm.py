"""The CRM consumer: every new user becomes a CRM contact, marked verified or expired as registration ends,
through a CRM client.

The outside CRM is the one part Flowplane fakes: :class:`FakeCrm` is an outside system with a store
of its own (a SQLite file), so it never shares a transaction with Flowplane. A real client implements
:class:`CrmClient` and is wired in ``bootstrap``."""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, create_engine, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.schema import CreateTable
from sqlmodel import Session

from app.domain.events import EVENTS, EventCatalogue, InvalidEvent, UserCreated, UserEvent
from app.plane.envelope import Envelope
from app.plane.tasks.registry import PermanentError

Status = Literal["verified", "expired"]


class CrmClient(Protocol):
    def upsert_contact(self, *, email: str, name: str, external_id: str) -> None: ...

    def set_contact_status(self, *, email: str, external_id: str, status: Status) -> None: ...


_metadata = MetaData()
contacts = Table(
    "contacts", _metadata,
    Column("email", String(254), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
# A table of its own, not columns of contacts: files made before statuses existed lack such columns, and a
# status may arrive before its contact (a user.created retried while user.verified goes straight through).
contact_statuses = Table(
    "contact_statuses", _metadata,
    Column("email", String(254), primary_key=True),
    Column("external_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)


class FakeCrm:
    """Upserts by email, like a real CRM, so a redelivered event leaves one contact and one status."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._engine: Engine | None = None

    def _connect(self) -> Engine:
        # Opened on first use: only the crm consumer needs it, and several processes may race to create it.
        if self._engine is None:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(f"sqlite:///{self._path}", connect_args={"timeout": 30})
            with engine.begin() as connection:
                for table in (contacts, contact_statuses):
                    connection.execute(CreateTable(table, if_not_exists=True))
            self._engine = engine
        return self._engine

    def upsert_contact(self, *, email: str, name: str, external_id: str) -> None:
        self._upsert(contacts, {"email": email, "name": name, "external_id": external_id})

    def set_contact_status(self, *, email: str, external_id: str, status: Status) -> None:
        self._upsert(contact_statuses, {"email": email, "external_id": external_id, "status": status})

    def _upsert(self, table: Table, values: dict[str, str]) -> None:
        row = {**values, "updated_at": datetime.now(UTC)}
        with self._connect().begin() as connection:
            connection.execute(insert(table).values(**row).on_conflict_do_update(index_elements=["email"], set_=row))

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact with its status (None until registration ended)."""
        query = (select(contacts, contact_statuses.c.status)
                 .join(contact_statuses, contact_statuses.c.email == contacts.c.email, isouter=True)
                 .order_by(contacts.c.email))
        with self._connect().connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def latest_contacts(self, limit: int) -> list[dict[str, Any]] | None:
        """The ``limit`` contacts changed last, newest first; None when this host has no stand-in CRM file (the
        consumers that write it run elsewhere): read, never created."""
        if not Path(self._path).exists():
            return None
        query = (select(contacts, contact_statuses.c.status)
                 .join(contact_statuses, contact_statuses.c.email == contacts.c.email, isouter=True)
                 .order_by(contacts.c.updated_at.desc(), contacts.c.email).limit(limit))
        with self._connect().connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    @property
    def path(self) -> str:
        return self._path

    def statuses(self) -> dict[str, str]:
        """email -> status, contact or not."""
        with self._connect().connect() as connection:
            return {row.email: row.status for row in connection.execute(select(contact_statuses))}


def _created(crm: CrmClient, payload: dict[str, Any]) -> None:
    user = UserCreated.model_validate(payload)
    crm.upsert_contact(email=str(user.email), name=user.name, external_id=user.user_id)


def _marks(status: Status) -> Callable[[CrmClient, dict[str, Any]], None]:
    def mark(crm: CrmClient, payload: dict[str, Any]) -> None:
        user = UserEvent.model_validate(payload)
        crm.set_contact_status(email=str(user.email), external_id=user.user_id, status=status)

    return mark


APPLIES = {"user.created": _created, "user.verified": _marks("verified"), "user.expired": _marks("expired")}


def sync_contact(db: Session, event: Envelope, services: Any) -> None:
    """Apply a user event to the CRM; any other event is none of its business."""
    apply = APPLIES.get(event.type)
    if apply is None:
        return
    try:
        payload = EventCatalogue(EVENTS).validate(event.type, event.payload)
    except InvalidEvent as exc:
        raise PermanentError(str(exc)) from None
    apply(services.crm, payload)
