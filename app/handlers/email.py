"""``email.welcome``: greet a new user, at most once per idempotency key.

The user's name goes into the body only: never into a header, where a parser could decode it into headers of
its own (RFC 2047 encoded words, CVE-2024-6923), whatever the interpreter."""

import email.errors
import hashlib
import re
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from app.domain.users import has_encoded_word, normalise_email
from app.handlers import mail_claims
from app.mail import MailRefused, send_budget
from app.plane.tasks.registry import PermanentError, TaskContext

SUBJECT = "Welcome to Flowplane"
FALLBACK_DOMAIN = "flowplane.local"
LEASE_MARGIN = timedelta(seconds=5)  # marking the mail sent after the send, and clocks a little apart
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")


def send_welcome(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    services = context.services
    settings = services.settings.email
    key = context.envelope.idempotency_key
    try:
        message = welcome_message(str(payload["email"]), str(payload["name"]), key=key, sender=settings.sender,
                                  now=datetime.now(UTC))
    except KeyError as missing:
        raise PermanentError(f"payload has no {missing}") from None
    except ValueError as exc:
        raise PermanentError(f"the welcome mail cannot be sent: {exc}") from None
    message_id = str(message["Message-ID"])
    lease = send_budget(settings) + LEASE_MARGIN
    claim = mail_claims.take(services.engine, key, message_id=message_id, recipient=str(message["To"]),
                             lease=lease, wait=lease + timedelta(seconds=1))
    if isinstance(claim, mail_claims.AlreadySent):
        return {"message_id": claim.message_id, "duplicate": True}
    claimed = time.monotonic()
    try:
        services.mailer.send(message)
    except MailRefused as exc:
        claim.release()
        raise PermanentError(str(exc)) from exc
    except BaseException:
        claim.release()  # the retry sends at once instead of waiting for the lease (the same Message-ID)
        raise
    database = services.settings.database
    one_try = database.connect_timeout + database.pool_timeout + database.handler_query_timeout
    # Marking it sent waits for a silent database only while the claim would outlast one more try
    claim.mark_sent(patience=lease - timedelta(seconds=time.monotonic() - claimed) - LEASE_MARGIN - one_try)
    return {"message_id": message_id, "duplicate": False}


def welcome_message(recipient: str, name: str, *, key: str, sender: str, now: datetime) -> EmailMessage:
    """The welcome mail to ``recipient``; ValueError when it could not be sent as it is."""
    address = normalise_email(recipient)
    if has_encoded_word(address):
        raise ValueError("the address holds encoded-word syntax (=?...?=)")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = address
    message["Subject"] = SUBJECT
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(key, sender)
    message.set_content(f"Hello {name},\n\nyour Flowplane account {address} is ready. Welcome aboard!\n\n— Flowplane\n")
    try:
        message.as_bytes()  # now, rather than after a claim on a mail that can never go
    except email.errors.MessageError as exc:
        raise ValueError(str(exc)) from exc
    return message


def message_id(key: str, sender: str) -> str:
    """The same for every attempt at one mail, so a receiver can tell a resend from a new mail."""
    _, at, domain = parseaddr(sender)[1].lower().rpartition("@")
    if not at or not _DOMAIN.fullmatch(domain):
        domain = FALLBACK_DOMAIN
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"
