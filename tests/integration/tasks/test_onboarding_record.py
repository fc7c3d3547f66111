"""``users.record_onboarding`` run twice at once, as two copies of one task can be: both succeed, one row."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlmodel import Session, select

from app.config import Settings
from app.db.models import Onboarding, User
from app.handlers.onboarding import record_onboarding
from app.plane.envelope import Envelope
from app.plane.tasks.handling import Context
from tests.integration.tasks.smtp import mail_services


def test_two_copies_at_once_both_succeed_with_one_row(settings: Settings) -> None:
    with mail_services(settings) as services:
        user_id = uuid.uuid4()
        with Session(services.engine) as session, session.begin():
            session.add(User(id=user_id, email="ada@example.com", name="Ada", password_hash="-",
                             created_at=datetime.now(UTC)))
        payload = {"user_id": str(user_id), "message_id": "<m@flowplane.local>"}
        envelope = Envelope(kind="task", type="users.record_onboarding", payload=payload)
        # Both copies have looked and found no row before either writes one
        both_looked = threading.Barrier(2)

        def hold_the_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO ONBOARDINGS"):
                both_looked.wait(timeout=10)

        event.listen(services.engine, "before_cursor_execute", hold_the_insert)
        with ThreadPoolExecutor(2) as pool:
            copies = [pool.submit(record_onboarding, Context(envelope, services), payload) for _ in range(2)]
            results = [copy.result(timeout=60) for copy in copies]
        assert results == [{"user_id": str(user_id), "welcome_message_id": "<m@flowplane.local>"}] * 2
        with Session(services.engine) as session:
            rows = session.exec(select(Onboarding)).all()
        assert [(row.user_id, row.welcome_message_id) for row in rows] == [(user_id, "<m@flowplane.local>")]
