"""``email.welcome``: greet a new user, at most once per idempotency key."""

import hashlib
import re
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from app.handlers import mail_claims
from app.mail import send_budget
from app.plane.tasks.registry import PermanentError, TaskContext

FALLBACK_DOMAIN = "flowplane.local"
LEASE_MARGIN = timedelta(seconds=5)  # marking the mail sent after the send, and clocks a little apart
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")


def send_welcome(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        recipient, name = str(payload["email"]), str(payload["name"])
    except KeyError as missing:
        raise PermanentError(f"payload has no {missing}") from None
    services = context.services
    settings = services.settings.email
    key = context.envelope.idempotency_key

    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = recipient
    message["Subject"] = f"Welcome to Flowplane, {name}"
    message["Message-ID"] = message_id(key, settings.sender)
    message.set_content(
        f"Hello {name},\n\nyour Flowplane account {recipient} is ready. Welcome aboard!\n\n— Flowplane\n"
    )
    lease = send_budget(settings) + LEASE_MARGIN
    claim = mail_claims.take(services.engine, key, message_id=str(message["Message-ID"]), recipient=recipient,
                             lease=lease, wait=lease + timedelta(seconds=1))
    if isinstance(claim, mail_claims.AlreadySent):
        return {"message_id": claim.message_id, "duplicate": True}
    try:
        services.mailer.send(message)
    except BaseException:
        claim.release()  # the retry sends at once instead of waiting for the lease (the same Message-ID)
        raise
    claim.mark_sent()
    return {"message_id": str(message["Message-ID"]), "duplicate": False}


def message_id(key: str, sender: str) -> str:
    """The same for every attempt at one mail, so a receiver can tell a resend from a new mail."""
    _, at, domain = parseaddr(sender)[1].lower().rpartition("@")
    if not at or not _DOMAIN.fullmatch(domain):
        domain = FALLBACK_DOMAIN
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"
