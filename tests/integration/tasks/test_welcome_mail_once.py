"""Copies of the welcome mail's task that run at once, crash, or fail send one mail, with one Message-ID:
each test on SQLite and PostgreSQL, against a real SMTP server."""

import hashlib
import re
import smtplib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlmodel import Session, col

from app.db.models import SentEmail
from app.handlers import Services
from app.plane.envelope import Envelope
from tests.integration.tasks.smtp import Inbox, Received, welcome, welcome_envelope


def _claim_of_another_copy(services: Services, envelope: Envelope, *, lapses_in: timedelta) -> None:
    """The row a copy leaves once it has claimed the mail and not (yet) sent it."""
    with Session(services.engine) as session, session.begin():
        session.add(SentEmail(idempotency_key=envelope.idempotency_key, message_id="<any@flowplane.local>",
                              recipient=envelope.payload["email"], claim_token="another-copy",
                              claimed_until=datetime.now(UTC) + lapses_in, sent_at=None))


def _row(services: Services, envelope: Envelope) -> SentEmail | None:
    with Session(services.engine) as session:
        return session.get(SentEmail, envelope.idempotency_key)


def _message_id(received: Received) -> str:
    found = re.findall(rb"^message-id:[ \t]*(.*)$", received.header_block, flags=re.IGNORECASE | re.MULTILINE)
    assert len(found) == 1, received.header_block
    return bytes(found[0]).decode("ascii").strip()


def test_two_copies_running_at_once_send_one_mail(mail: Services, inbox: Inbox) -> None:
    # Given a slow SMTP server, so the second copy starts while the first is still sending
    inbox.data_delay = 1.0
    envelope = welcome_envelope()
    start = threading.Barrier(2)

    def copy() -> dict[str, Any]:
        start.wait(timeout=10)
        return welcome(mail, envelope)

    # When two copies of the same task run at once
    with ThreadPoolExecutor(2) as pool:
        copies = [pool.submit(copy), pool.submit(copy)]
        failures = [future.exception(timeout=60) for future in copies]
    # Then one mail went out; one copy sent it, the other reports it as a duplicate with the same id
    assert len(inbox.received) == 1
    assert failures == [None, None]
    results = [future.result() for future in copies]
    assert sorted(result["duplicate"] for result in results) == [False, True]
    assert results[0]["message_id"] == results[1]["message_id"] == _message_id(inbox.received[0])
    row = _row(mail, envelope)
    assert row is not None and row.sent_at is not None and row.message_id == results[0]["message_id"]


def test_a_claim_whose_holder_crashed_is_taken_over(mail: Services, inbox: Inbox) -> None:
    # Given a copy that claimed the mail and died before sending: its lease has lapsed
    envelope = welcome_envelope()
    _claim_of_another_copy(mail, envelope, lapses_in=timedelta(seconds=-1))
    # When the task runs again, it takes the claim over and sends
    result = welcome(mail, envelope)
    assert result["duplicate"] is False
    assert len(inbox.received) == 1
    row = _row(mail, envelope)
    assert row is not None and row.sent_at is not None and row.claim_token != "another-copy"


def test_a_live_claim_is_waited_for_and_taken_over_once_it_lapses(mail: Services, inbox: Inbox) -> None:
    # Given a claim that another copy holds for 1.5 s more, and never marks sent
    envelope = welcome_envelope()
    _claim_of_another_copy(mail, envelope, lapses_in=timedelta(seconds=1.5))
    began = time.monotonic()
    result = welcome(mail, envelope)
    # Then this copy waited for the lease to lapse, then sent
    assert time.monotonic() - began >= 1.0
    assert result["duplicate"] is False and len(inbox.received) == 1


def test_a_live_claim_marked_sent_while_waiting_is_a_duplicate(mail: Services, inbox: Inbox) -> None:
    envelope = welcome_envelope()
    _claim_of_another_copy(mail, envelope, lapses_in=timedelta(seconds=30))
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(welcome, mail, envelope)
        # When the holder marks the mail sent
        with Session(mail.engine) as session, session.begin():
            session.execute(update(SentEmail).where(col(SentEmail.idempotency_key) == envelope.idempotency_key)
                            .values(sent_at=datetime.now(UTC)))
        result = waiting.result(timeout=30)
    # Then the waiting copy sends nothing and reports the holder's mail
    assert result == {"message_id": "<any@flowplane.local>", "duplicate": True}
    assert inbox.received == []


def test_a_failed_send_gives_its_claim_back_at_once(mail: Services, inbox: Inbox) -> None:
    # Given a server that asks to try later
    envelope = welcome_envelope()
    inbox.replies["DATA"] = "451 4.3.0 try again later"
    with pytest.raises(smtplib.SMTPDataError):
        welcome(mail, envelope)
    # Then no claim is left behind, so the retry sends without waiting for a lease
    assert _row(mail, envelope) is None
    inbox.replies.clear()
    began = time.monotonic()
    assert welcome(mail, envelope)["duplicate"] is False
    assert time.monotonic() - began < 5 and len(inbox.received) == 1


@pytest.mark.parametrize("crash", ["record deleted", "claim lapsed"])
def test_a_resend_after_a_lost_record_carries_the_same_message_id(mail: Services, inbox: Inbox, crash: str) -> None:
    # Given a mail the server accepted
    envelope = welcome_envelope(run_id="r" * 32, step_id="welcome_email")
    first = welcome(mail, envelope)
    # When the worker crashed before its record committed (the record is gone, or still an unsent claim)
    with Session(mail.engine) as session, session.begin():
        by_key = col(SentEmail.idempotency_key) == envelope.idempotency_key
        if crash == "record deleted":
            session.execute(delete(SentEmail).where(by_key))
        else:
            session.execute(update(SentEmail).where(by_key).values(
                sent_at=None, claimed_until=datetime.now(UTC) - timedelta(seconds=1)))
    again = welcome(mail, envelope)
    # Then the resent mail carries the very same Message-ID, derived from the idempotency key
    assert len(inbox.received) == 2
    digest = hashlib.sha256(envelope.idempotency_key.encode()).hexdigest()[:32]
    assert _message_id(inbox.received[0]) == _message_id(inbox.received[1]) == f"<{digest}@flowplane.local>"
    assert first["message_id"] == again["message_id"] == f"<{digest}@flowplane.local>"
