"""The mails that carry a verification link, over real SMTP (aiosmtpd), on SQLite and PostgreSQL: the welcome
mail given ``valid_for``, and the reminder. The token lives in the mail alone; the link verifies its user."""

import dataclasses
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.auth.accounts import create_user
from app.auth.passwords import Passwords
from app.clock import FileOffsetClock
from app.db.models import EmailVerification, SentEmail, User
from app.domain.verification import digest
from app.handlers import Services
from app.handlers.reminder import SUBJECT as REMINDER_SUBJECT
from app.handlers.reminder import send_reminder
from app.plane.envelope import Envelope
from app.plane.tasks.handling import Context
from app.plane.tasks.registry import PermanentError
from tests.integration.accounts import PASSWORD
from tests.integration.tasks.smtp import Inbox, Received, welcome

LINK = re.compile(r"http://127\.0\.0\.1:8000/api/users/verify\?token=(fpv_[A-Za-z0-9_-]{43})\r?\n")


@pytest.fixture
def clock(tmp_path: Path) -> FileOffsetClock:
    return FileOffsetClock(tmp_path / "clock")


@pytest.fixture
def services(mail: Services, clock: FileOffsetClock) -> Services:
    return dataclasses.replace(mail, clock=clock)


def _user(services: Services, **fields: Any) -> User:
    with Session(services.engine, expire_on_commit=False) as db, db.begin():
        user = create_user(db, Passwords(services.settings.auth), email=f"u-{uuid.uuid4().hex[:10]}@example.com",
                           name="Ada Lovelace", password=PASSWORD)
        for name, value in fields.items():
            setattr(user, name, value)
    return user


def _payload(user: User, **extra: Any) -> dict[str, Any]:
    return {"user_id": str(user.id), "email": user.email, "name": user.name, **extra}


def _token_in(received: Received) -> str | None:
    """The token of the link in the mail's text, as a mail client shows it (the body is quoted-printable)."""
    found = LINK.findall(received.parsed().get_content())
    assert len(found) <= 1
    return found[0] if found else None


def _tokens(services: Services) -> list[EmailVerification]:
    with Session(services.engine) as db:
        return list(db.exec(select(EmailVerification)).all())


def _run(handler: Any, services: Services, payload: dict[str, Any], envelope_id: str | None = None) -> Any:
    envelope = Envelope(kind="task", type="x", payload=payload, **({"id": envelope_id} if envelope_id else {}))
    return handler(Context(envelope, services), payload)


def test_the_welcome_mail_carries_a_link_that_verifies_its_user(services: Services, inbox: Inbox,
                                                                client: TestClient[Any]) -> None:
    # Given a new user, and the welcome task asked for a link valid 48 hours (by the clock, moved a day on)
    services.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    user = _user(services)
    payload = _payload(user, valid_for="48h")
    # When the task runs
    result = welcome(services, Envelope(kind="task", type="email.welcome", payload=payload))
    # Then the one mail carries a link whose token is stored only as its digest, expiring with valid_for
    assert result["duplicate"] is False and "token" not in str(result) and "fpv_" not in str(result)
    [received] = inbox.received
    token = _token_in(received)
    assert token is not None
    assert "The link works until" in received.parsed().get_content()
    [stored] = _tokens(services)
    assert stored.token_digest == digest(token) and stored.user_id == user.id and stored.used_at is None
    expected = services.clock.now() + timedelta(hours=48)
    assert abs((stored.expires_at - expected).total_seconds()) < 30
    with Session(services.engine) as db:
        assert [token in repr(row) for row in db.exec(select(SentEmail)).all()] == [False]
    # And the link verifies the user
    answer = client.post("/api/users/verify", json={"token": token})
    assert answer.status_code == 200 and answer.json()["user_id"] == str(user.id)


def test_without_valid_for_the_welcome_mail_has_no_link(services: Services, inbox: Inbox) -> None:
    user = _user(services)
    welcome(services, Envelope(kind="task", type="email.welcome", payload=_payload(user)))
    assert _token_in(inbox.received[0]) is None and _tokens(services) == []


def test_a_verified_user_is_welcomed_without_a_link(services: Services, inbox: Inbox) -> None:
    user = _user(services, email_verified_at=services.clock.now())
    welcome(services, Envelope(kind="task", type="email.welcome", payload=_payload(user, valid_for="48h")))
    assert _token_in(inbox.received[0]) is None and _tokens(services) == []


def test_a_redelivered_welcome_makes_no_second_token(services: Services, inbox: Inbox) -> None:
    user = _user(services)
    envelope = Envelope(kind="task", type="email.welcome", payload=_payload(user, valid_for="48h"))
    assert welcome(services, envelope)["duplicate"] is False
    assert welcome(services, envelope)["duplicate"] is True
    assert len(inbox.received) == 1 and len(_tokens(services)) == 1


def test_a_failed_send_leaves_an_unsent_token_and_the_retry_mails_a_new_one(services: Services, inbox: Inbox,
                                                                            client: TestClient[Any]) -> None:
    # Given an SMTP server that refuses the first attempt for now (4xx: retried)
    user = _user(services)
    envelope = Envelope(kind="task", type="email.welcome", payload=_payload(user, valid_for="48h"))
    inbox.replies["DATA"] = "451 try again later"
    with pytest.raises(Exception, match="451"):
        welcome(services, envelope)
    # Then the claim was given back and the first token stays, unused (no one has it: it expires)
    inbox.replies.clear()
    assert len(_tokens(services)) == 1 and inbox.received == []
    # When the task is retried, the mail goes out with a token of its own, which verifies
    assert welcome(services, envelope)["duplicate"] is False
    token = _token_in(inbox.received[0])
    assert token is not None and len(_tokens(services)) == 2
    assert client.post("/api/users/verify", json={"token": token}).status_code == 200


def test_a_bad_valid_for_or_user_fails_permanently(services: Services, inbox: Inbox) -> None:
    user = _user(services)
    for payload in (_payload(user, valid_for="2 days"), _payload(user, valid_for="0s"),
                    {**_payload(user, valid_for="48h"), "user_id": "not-a-uuid"},
                    {**_payload(user, valid_for="48h"), "user_id": str(uuid.uuid4())}):
        with pytest.raises(PermanentError):
            welcome(services, Envelope(kind="task", type="email.welcome", payload=payload))
    assert inbox.received == [] and _tokens(services) == []
    with Session(services.engine) as db:  # every claim given back
        assert db.exec(select(SentEmail)).all() == []


def test_the_reminder_mails_a_new_link_once(services: Services, inbox: Inbox, client: TestClient[Any]) -> None:
    user = _user(services)
    payload = _payload(user, valid_for="5d")
    first = _run(send_reminder, services, payload, envelope_id="reminder-1")
    again = _run(send_reminder, services, payload, envelope_id="reminder-1")  # a redelivery
    assert first["sent"] is True and first["duplicate"] is False
    assert again == {"sent": True, "duplicate": True, "message_id": first["message_id"]}
    [received] = inbox.received
    message = received.parsed()
    assert message["Subject"] == REMINDER_SUBJECT and "Ada Lovelace" not in str(message["Subject"])
    token = _token_in(received)
    assert token is not None and "fpv_" not in str(first)
    [stored] = _tokens(services)
    assert abs((stored.expires_at - services.clock.now() - timedelta(days=5)).total_seconds()) < 30
    assert client.post("/api/users/verify", json={"token": token}).status_code == 200


@pytest.mark.parametrize(("state", "reason"), [("email_verified_at", "already verified"),
                                               ("deactivated_at", "deactivated")])
def test_the_reminder_skips_a_user_verified_or_deactivated_meanwhile(services: Services, inbox: Inbox, state: str,
                                                                     reason: str) -> None:
    user = _user(services)
    with Session(services.engine) as db, db.begin():
        db.execute(update(User).where(col(User.id) == user.id).values({state: services.clock.now()}))
    assert _run(send_reminder, services, _payload(user, valid_for="5d")) == {"sent": False, "reason": reason}
    assert inbox.received == [] and _tokens(services) == []
    with Session(services.engine) as db:
        assert db.exec(select(SentEmail)).all() == []  # the claim given back: nothing recorded as sent


def test_a_reminder_for_no_such_user_fails_permanently(services: Services, inbox: Inbox) -> None:
    with pytest.raises(PermanentError, match="no user"):
        _run(send_reminder, services, {"user_id": str(uuid.uuid4()), "email": "x@example.com", "name": "X",
                                       "valid_for": "5d"})
    assert inbox.received == []
