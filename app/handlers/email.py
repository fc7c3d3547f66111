"""``email.welcome``: greet a new user, at most once per idempotency key."""

import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from sqlmodel import Session

from app.db.models import SentEmail
from app.plane.tasks.registry import PermanentError, TaskContext


def send_welcome(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        recipient, name = str(payload["email"]), str(payload["name"])
    except KeyError as missing:
        raise PermanentError(f"payload has no {missing}") from None
    services = context.services
    key = context.envelope.idempotency_key
    with Session(services.engine) as session:
        already = session.get(SentEmail, key)
        if already is not None:
            return {"message_id": already.message_id, "duplicate": True}

    message = EmailMessage()
    message["From"] = services.settings.email.sender
    message["To"] = recipient
    message["Subject"] = f"Welcome to Flowplane, {name}"
    message["Message-ID"] = make_msgid(idstring=hashlib.sha256(key.encode()).hexdigest()[:12], domain="flowplane.local")
    message.set_content(
        f"Hello {name},\n\nyour Flowplane account {recipient} is ready. Welcome aboard!\n\n— Flowplane\n"
    )
    services.mailer.send(message)

    with Session(services.engine) as session, session.begin():
        session.merge(SentEmail(idempotency_key=key, message_id=str(message["Message-ID"]), recipient=recipient,
                                sent_at=datetime.now(UTC)))
    return {"message_id": str(message["Message-ID"]), "duplicate": False}
