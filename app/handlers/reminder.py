"""``email.verification_reminder``: ask a user who has not verified their address yet to do so, with a new link.

Once per idempotency key, like the welcome mail (same claim, stable Message-ID, the name in the body only).
A user who verified, or whose account was deactivated, by the time it runs gets nothing."""

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from app.handlers import Services
from app.handlers.email import verify_lines
from app.handlers.mail_delivery import Skip, address_of, deliver, plain_mail
from app.handlers.verification_links import Link, link_for, user_and_validity
from app.plane.tasks.registry import PermanentError, TaskContext

SUBJECT = "Please verify your email address for Flowplane"


def send_reminder(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    services: Services = context.services
    key = context.envelope.idempotency_key
    sender = services.settings.email.sender
    user_id, valid_for = user_and_validity(payload)
    try:
        recipient, name = str(payload["email"]), str(payload["name"])
        draft = reminder_message(recipient, name, key=key, sender=sender, now=datetime.now(UTC), link=None)
    except KeyError as missing:
        raise PermanentError(f"payload has no {missing}") from None
    except ValueError as exc:
        raise PermanentError(f"the reminder cannot be sent: {exc}") from None

    def with_link() -> EmailMessage | Skip:
        link = link_for(services.engine, user_id, now=services.clock.now(), valid_for=valid_for,
                        public_url=services.settings.email.public_url)
        if not isinstance(link, Link):
            return Skip(link)
        return reminder_message(recipient, name, key=key, sender=sender, now=datetime.now(UTC), link=link)

    outcome = deliver(services, key, draft, with_link)
    return outcome if "sent" in outcome else {"sent": True, **outcome}


def reminder_message(recipient: str, name: str, *, key: str, sender: str, now: datetime,
                     link: Link | None) -> EmailMessage:
    """The reminder to ``recipient`` (without ``link``: the draft checked before the claim); ValueError when it
    could not be sent as it is."""
    address = address_of(recipient)
    body = (f"Hello {name},\n\nyou registered {address} with Flowplane but have not confirmed it yet. Please "
            f"confirm that this address is yours:\n\n{verify_lines(link) if link else ''}\n"
            "If you did not register, ignore this mail: the account is closed unless it is confirmed.\n\n"
            "— Flowplane\n")
    return plain_mail(address, subject=SUBJECT, body=body, key=key, sender=sender, now=now)
