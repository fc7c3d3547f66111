"""The welcome mail goes out over real SMTP (aiosmtpd), once per registration, never with a password."""

import email
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar.testing import TestClient
from sqlmodel import Session, select

from app.api.app import create_app
from app.db.models import SentEmail
from app.handlers.email import send_welcome
from app.plane.envelope import Envelope
from app.plane.tasks.huey_plane import Context
from tests.e2e.processes import poll
from tests.integration.accounts import PASSWORD, new_user
from tests.integration.tasks.conftest import PlaneWorld
from tests.servers import closed_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), closed_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_registration_sends_one_welcome_mail_over_smtp(world: PlaneWorld, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    smtp_env = {"FLOWPLANE_EMAIL__BACKEND": "smtp", "FLOWPLANE_EMAIL__SMTP_PORT": str(port)}
    world.env |= smtp_env
    container = world.container()
    world.start_worker(concurrency=1)
    with TestClient(create_app(container)) as client:
        response = client.post("/api/users", json=new_user(email="grace@example.com", name="Grace Hopper"))
    assert response.status_code == 201
    poll(lambda: inbox.messages or None, timeout=30, what="the welcome mail")
    message = inbox.messages[0]
    assert message["To"] == "grace@example.com"
    assert message["Subject"] == "Welcome to Flowplane, Grace Hopper"
    body = message.get_payload()
    assert "Hello Grace Hopper" in str(body) and PASSWORD not in str(message)

    # A redelivery of the same task (same idempotency key) does not mail twice
    services = container.huey.services.get()
    envelope = Envelope(kind="task", type="email.welcome", id=_welcome_task_id(container),
                        payload={"email": "grace@example.com", "name": "Grace Hopper"})
    again = send_welcome(Context(envelope, services), envelope.payload)
    assert again["duplicate"] is True and again["message_id"] == message["Message-ID"].strip()
    assert len(inbox.messages) == 1


def _welcome_task_id(container: Any) -> str:
    """The sent mail's record: the handler commits it just after the SMTP server took the mail."""
    def recorded() -> str | None:
        with Session(container.engine) as session:
            return session.exec(select(SentEmail.idempotency_key)).one_or_none()

    return poll(recorded, timeout=10, what="the sent mail's record")
