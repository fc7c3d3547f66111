"""``email.welcome``: greet a new user, at most once per idempotency key; with a verification link when the
payload says how long it stays valid (``valid_for``, e.g. "48h").

The user's name goes into the body only: never into a header, where a parser could decode it into headers of
its own (RFC 2047 encoded words, CVE-2024-6923), whatever the interpreter."""

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from app.handlers import Services
from app.handlers.mail_delivery import Skip, address_of, deliver, message_id, plain_mail
from app.handlers.verification_links import Link, link_for, user_and_validity
from app.plane.tasks.registry import PermanentError, TaskContext

SUBJECT = "Welcome to Flowplane"
__all__ = ["message_id", "send_welcome", "welcome_message"]


def send_welcome(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    services: Services = context.services
    key = context.envelope.idempotency_key
    sender = services.settings.email.sender
    try:
        recipient, name = str(payload["email"]), str(payload["name"])
        draft = welcome_message(recipient, name, key=key, sender=sender, now=datetime.now(UTC))
    except KeyError as missing:
        raise PermanentError(f"payload has no {missing}") from None
    except ValueError as exc:
        raise PermanentError(f"the welcome mail cannot be sent: {exc}") from None
    if "valid_for" not in payload:
        return deliver(services, key, draft)
    user_id, valid_for = user_and_validity(payload)

    def with_link() -> EmailMessage | Skip:
        # Only the copy holding the claim makes a token, right before it sends: the token lives in the mail alone
        link = link_for(services.engine, user_id, now=services.clock.now(), valid_for=valid_for,
                        public_url=services.settings.email.public_url)
        if not isinstance(link, Link):  # verified (or deactivated) already: a welcome without a link
            return draft
        return welcome_message(recipient, name, key=key, sender=sender, now=datetime.now(UTC), link=link)

    return deliver(services, key, draft, with_link)


def welcome_message(recipient: str, name: str, *, key: str, sender: str, now: datetime,
                    link: Link | None = None) -> EmailMessage:
    """The welcome mail to ``recipient``; ValueError when it could not be sent as it is."""
    address = address_of(recipient)
    verify = "" if link is None else f"Please confirm that this address is yours:\n\n{verify_lines(link)}\n"
    body = f"Hello {name},\n\nyour Flowplane account {address} is ready. Welcome aboard!\n\n{verify}— Flowplane\n"
    return plain_mail(address, subject=SUBJECT, body=body, key=key, sender=sender, now=now)


def verify_lines(link: Link) -> str:
    return f"{link.url}\n\nThe link works until {link.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC.\n"
