"""A mail that can never go (a 5xx refusal, a message that cannot be serialised) fails permanently at once;
one that may go later (4xx, no server, a stalled server) stays retryable. Neither leaves a claim behind."""

import contextlib
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from app.config import Settings
from app.db.models import SentEmail
from app.handlers import Services
from app.plane.tasks.registry import PermanentError
from tests.integration.tasks.smtp import Inbox, mail_services, welcome, welcome_envelope
from tests.servers import closed_port


def _no_claim_left(services: Services, key: str) -> bool:
    with services.engine.connect() as connection:
        table = SentEmail.__table__  # type: ignore[attr-defined]
        return connection.execute(table.select().where(table.c.idempotency_key == key)).first() is None


@pytest.mark.parametrize(("command", "reply"), [
    ("MAIL", "553 5.7.1 sender not allowed"),
    ("RCPT", "550 5.1.1 no such user"),
    ("DATA", "554 5.7.1 message refused"),
])
def test_a_permanent_refusal_fails_at_once(mail: Services, inbox: Inbox, command: str, reply: str) -> None:
    inbox.replies[command] = reply
    envelope = welcome_envelope()
    with pytest.raises(PermanentError, match=reply.split()[0]):
        welcome(mail, envelope)
    assert inbox.received == [] and _no_claim_left(mail, envelope.idempotency_key)


@pytest.mark.parametrize(("command", "reply"), [
    ("MAIL", "451 4.3.0 try again later"),
    ("RCPT", "450 4.2.1 mailbox busy"),
    ("DATA", "452 4.3.1 insufficient storage"),
])
def test_a_temporary_refusal_stays_retryable(mail: Services, inbox: Inbox, command: str, reply: str) -> None:
    inbox.replies[command] = reply
    envelope = welcome_envelope()
    with pytest.raises(smtplib.SMTPException) as raised:
        welcome(mail, envelope)
    assert not isinstance(raised.value, PermanentError)
    assert _no_claim_left(mail, envelope.idempotency_key)


@pytest.mark.parametrize(("address", "name"), [
    ("ada@example.com", "Ada \ud800"),  # a lone surrogate: the body cannot be encoded
    ("ada@example.com\r\nBcc: eve@evil.example", "Ada"),
    ("=?utf-8?q?eve=40evil.example_?=@example.com", "Ada"),  # an encoded word a parser would decode
    ("not an address", "Ada"),
])
def test_an_unsendable_message_fails_at_once(mail: Services, inbox: Inbox, address: str, name: str) -> None:
    envelope = welcome_envelope(address, name)
    with pytest.raises(PermanentError):
        welcome(mail, envelope)
    assert inbox.received == [] and _no_claim_left(mail, envelope.idempotency_key)


def test_no_server_stays_retryable(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(FLOWPLANE_EMAIL__BACKEND="smtp", FLOWPLANE_EMAIL__SMTP_PORT=str(closed_port()))
    with mail_services(settings) as services:
        envelope = welcome_envelope()
        with pytest.raises(OSError) as raised:
            welcome(services, envelope)
        assert not isinstance(raised.value, PermanentError)
        assert _no_claim_left(services, envelope.idempotency_key)


@pytest.fixture
def stalling_server() -> Iterator[int]:
    """Greets every client with an endless multi-line 220 reply, a line every 0.1 s: each read finishes
    within smtplib's timeout, the conversation never does."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            with client, contextlib.suppress(OSError):
                while not stop.wait(0.1):
                    client.sendall(b"220-still greeting you\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    listener.close()


@pytest.mark.timeout(30)
def test_a_stalling_server_is_cut_off_within_the_send_budget(make_settings: Callable[..., Settings],
                                                             stalling_server: int) -> None:
    # Given a 0.5 s SMTP timeout: the whole conversation may take 2 × 0.5 s, so a claim's lease outlasts it
    settings = make_settings(FLOWPLANE_EMAIL__BACKEND="smtp", FLOWPLANE_EMAIL__SMTP_PORT=str(stalling_server),
                             FLOWPLANE_EMAIL__SMTP_TIMEOUT="500ms")
    with mail_services(settings) as services:
        envelope = welcome_envelope()
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            welcome(services, envelope)
        assert time.monotonic() - began < 5
        assert _no_claim_left(services, envelope.idempotency_key)
