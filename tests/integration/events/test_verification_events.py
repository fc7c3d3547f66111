"""The verification events reach every consumer through the real runtime and RabbitMQ: analytics counts them,
audit logs them, and the CRM marks its contact verified or expired."""

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.schema import CreateTable
from sqlmodel import Session

from app.bootstrap import Container
from app.db.models import AuditEntry, EventCount
from app.handlers.catalogue import CONSUMERS
from app.handlers.crm import FakeCrm, contacts
from tests.e2e.processes import poll
from tests.integration.events.conftest import EventWorld


def _published(container: Container) -> list[str]:
    ada = {"user_id": "u-ada", "email": "ada@example.com"}
    bob = {"user_id": "u-bob", "email": "bob@example.com"}
    plane = container.plane
    return [
        plane.publish("user.created", {**ada, "name": "Ada"}) or "",
        plane.publish("user.created", {**bob, "name": "Bob"}) or "",
        plane.publish("user.email_verified", {**ada, "verified_at": datetime.now(UTC).isoformat()}) or "",
        plane.publish("user.verified", ada) or "",
        plane.publish("user.expired", bob) or "",
    ]


def test_verified_and_expired_users_reach_analytics_audit_and_the_crm(events_world: EventWorld) -> None:
    container = events_world.container()
    events_world.run_consumers(container, CONSUMERS)
    sent = _published(container)
    crm = FakeCrm(events_world.env["FLOWPLANE_EVENTS__CRM_FAKE_PATH"])

    def settled() -> bool | None:
        with Session(container.engine) as db:
            audited = db.execute(select(AuditEntry)).scalars().all()
            counted = sum(db.execute(select(EventCount.count)).scalars().all())
        return (len(audited) == counted == 5 and len(crm.statuses()) == 2) or None

    poll(settled, timeout=30, what="every consumer to apply the five events")
    assert {(c["email"], c["status"]) for c in crm.contacts()} == {("ada@example.com", "verified"),
                                                                  ("bob@example.com", "expired")}
    with Session(container.engine) as db:
        audited = db.execute(select(AuditEntry)).scalars().all()
        counts = {row.event_type: row.count for row in db.execute(select(EventCount)).scalars().all()}
    assert sorted(entry.message_id for entry in audited) == sorted(sent)
    assert Counter(entry.event_type for entry in audited) == Counter(
        {"user.created": 2, "user.email_verified": 1, "user.verified": 1, "user.expired": 1})
    assert counts == {"user.created": 2, "user.email_verified": 1, "user.verified": 1, "user.expired": 1}
    verified = next(entry for entry in audited if entry.event_type == "user.email_verified")
    assert json.loads(verified.payload).keys() == {"user_id", "email", "verified_at"}


def test_a_status_before_its_contact_and_a_crm_file_from_before_statuses(tmp_path: Path) -> None:
    # Given a CRM file made before statuses existed: a contacts table only
    path = tmp_path / "old-crm.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(CreateTable(contacts))
    engine.dispose()
    crm = FakeCrm(str(path))
    # When a status arrives before its contact, and the contact after
    crm.set_contact_status(email="late@example.com", external_id="u1", status="verified")
    crm.set_contact_status(email="late@example.com", external_id="u1", status="verified")  # redelivered
    assert crm.contacts() == [] and crm.statuses() == {"late@example.com": "verified"}
    crm.upsert_contact(email="late@example.com", name="Late", external_id="u1")
    # Then the contact shows its status
    assert [(c["email"], c["status"]) for c in crm.contacts()] == [("late@example.com", "verified")]
