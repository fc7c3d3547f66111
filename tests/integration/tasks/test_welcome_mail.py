"""The welcome mail goes out over real SMTP (aiosmtpd), once per registration, never with a password."""

from typing import Any

from litestar.testing import TestClient
from sqlmodel import Session, col, select

from app.api.app import create_app
from app.db.models import SentEmail
from app.handlers.email import send_welcome
from app.plane.envelope import Envelope
from app.plane.tasks.handling import Context
from tests.e2e.processes import poll
from tests.integration.accounts import PASSWORD, new_user
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.tasks.smtp import Inbox


def test_registration_sends_one_welcome_mail_over_smtp(world: PlaneWorld, inbox: Inbox) -> None:
    smtp_env = {"FLOWPLANE_EMAIL__BACKEND": "smtp", "FLOWPLANE_EMAIL__SMTP_PORT": str(inbox.port)}
    world.env |= smtp_env
    container = world.container()
    world.start_worker(concurrency=1)
    with TestClient(create_app(container)) as client:
        response = client.post("/api/users", json=new_user(email="grace@example.com", name="Grace Hopper"))
    assert response.status_code == 201
    poll(lambda: inbox.received or None, timeout=30, what="the welcome mail")
    message = inbox.received[0].parsed()
    assert message["To"] == "grace@example.com"
    assert message["Subject"] == "Welcome to Flowplane"  # the name stays out of every header
    assert "Hello Grace Hopper" in message.get_content() and PASSWORD.encode() not in inbox.received[0].raw

    # A redelivery of the same task (same idempotency key) does not mail twice
    services = container.huey.services.get()
    envelope = Envelope(kind="task", type="email.welcome", id=_welcome_task_id(container),
                        payload={"email": "grace@example.com", "name": "Grace Hopper"})
    again = send_welcome(Context(envelope, services), envelope.payload)
    assert again["duplicate"] is True and again["message_id"] == message["Message-ID"].strip()
    assert len(inbox.received) == 1


def _welcome_task_id(container: Any) -> str:
    """The sent mail's record: the handler marks its claim sent just after the SMTP server took the mail."""
    def recorded() -> str | None:
        with Session(container.engine) as session:
            sent = select(SentEmail.idempotency_key).where(col(SentEmail.sent_at).is_not(None))
            return session.exec(sent).one_or_none()

    return poll(recorded, timeout=10, what="the sent mail's record")
