"""One mail per idempotency key: claim it, compose it (the claim holder only), send it, mark it sent.

Shared by every mail task. A mail whose body needs a fresh secret (a verification link) is composed after the
claim, so only the copy that sends ever makes one; the rest of the message is built and checked before."""

import email.errors
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from app.domain.users import has_encoded_word, normalise_email
from app.handlers import Services, mail_claims
from app.mail import MailRefused, send_budget
from app.plane.tasks.registry import PermanentError

FALLBACK_DOMAIN = "flowplane.local"
LEASE_MARGIN = timedelta(seconds=5)  # composing, marking the mail sent after the send, clocks a little apart
COMPOSE_BUDGET = LEASE_MARGIN / 2  # longer, and the claim might lapse while the mail is on its way
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")


@dataclass(frozen=True)
class Skip:
    """Composing found nothing to send (the user verified meanwhile, say): the claim is given back."""

    reason: str


Compose = Callable[[], EmailMessage | Skip]


class ComposeTooSlow(Exception):
    """Composing took so long that the claim could lapse mid-send: given back, to be tried again."""


def address_of(recipient: str) -> str:
    """The ``To:`` address; ValueError when it is none, or one a parser could read headers into."""
    address = normalise_email(recipient)
    if has_encoded_word(address):
        raise ValueError("the address holds encoded-word syntax (=?...?=)")
    return address


def plain_mail(address: str, *, subject: str, body: str, key: str, sender: str, now: datetime) -> EmailMessage:
    """A text mail with fixed headers (no user text in any of them); ValueError when it could not be sent as it
    is: checked now, rather than after a claim on a mail that can never go."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = address
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(key, sender)
    message.set_content(body)
    try:
        message.as_bytes()
    except email.errors.MessageError as exc:
        raise ValueError(str(exc)) from exc
    return message


def deliver(services: Services, key: str, draft: EmailMessage, compose: Compose | None = None) -> dict[str, Any]:
    """Send ``compose()`` (else ``draft``) once for ``key``: ``{"message_id", "duplicate"}``, or
    ``{"sent": False, "reason"}`` when composing skipped it. ``draft`` gives the Message-ID and recipient."""
    settings = services.settings.email
    message_id = str(draft["Message-ID"])
    lease = send_budget(settings) + LEASE_MARGIN
    claim = mail_claims.take(services.engine, key, message_id=message_id, recipient=str(draft["To"]),
                             lease=lease, wait=lease + timedelta(seconds=1))
    if isinstance(claim, mail_claims.AlreadySent):
        return {"message_id": claim.message_id, "duplicate": True}
    claimed = time.monotonic()
    try:
        message = compose() if compose is not None else draft
        if isinstance(message, Skip):
            claim.release()
            return {"sent": False, "reason": message.reason}
        if time.monotonic() - claimed > COMPOSE_BUDGET.total_seconds():
            raise ComposeTooSlow(f"composing mail {key} took longer than {COMPOSE_BUDGET.total_seconds():g} s")
        services.mailer.send(message)
    except MailRefused as exc:
        claim.release()
        raise PermanentError(str(exc)) from exc
    except BaseException:
        claim.release()  # the retry sends at once instead of waiting for the lease (the same Message-ID)
        raise
    # Marking it sent waits for a silent database for the rest of the lease: giving up sooner only hands the
    # mail to a retry, which sends it again once the lease lapses; while the database is silent no other copy
    # can take the claim over, and once it answers this copy marks the mail sent first.
    claim.mark_sent(patience=lease - timedelta(seconds=time.monotonic() - claimed) - LEASE_MARGIN)
    return {"message_id": message_id, "duplicate": False}


def message_id(key: str, sender: str) -> str:
    """The same for every attempt at one mail, so a receiver can tell a resend from a new mail."""
    _, at, domain = parseaddr(sender)[1].lower().rpartition("@")
    if not at or not _DOMAIN.fullmatch(domain):
        domain = FALLBACK_DOMAIN
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"
