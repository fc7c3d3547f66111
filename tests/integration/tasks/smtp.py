"""A real SMTP server (aiosmtpd) that keeps each message's raw bytes, and the welcome mail's handler run
against it as a worker would run it."""

import asyncio
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from app.config import Settings
from app.db import migrate
from app.db.engine import make_engine
from app.handlers import Services
from app.handlers.email import send_welcome
from app.mail import make_mailer
from app.plane.envelope import Envelope
from app.plane.tasks.handling import Context
from tests.servers import closed_port


@dataclass(frozen=True)
class Received:
    raw: bytes  # exactly what the client sent after DATA (dot-unstuffed)
    rcpt_tos: list[str]

    @property
    def header_block(self) -> bytes:
        return self.raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]

    @property
    def header_names(self) -> list[str]:
        """The name of each header field in the raw block, in order (continuation lines skipped)."""
        return [line.split(b":", 1)[0].decode("ascii") for line in self.header_block.split(b"\n")
                if line and line[:1] not in (b" ", b"\t")]

    def parsed(self) -> EmailMessage:
        message = BytesParser(policy=email.policy.default).parsebytes(self.raw)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class Inbox:
    """aiosmtpd's handler: ``replies`` maps MAIL/RCPT/DATA to a reply that replaces the server's 250."""

    port: int = field(default_factory=closed_port)
    received: list[Received] = field(default_factory=list)
    replies: dict[str, str] = field(default_factory=dict)
    data_delay: float = 0.0  # seconds the server takes before it answers DATA: a slow server

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if "MAIL" in self.replies:
            return self.replies["MAIL"]
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if "RCPT" in self.replies:
            return self.replies["RCPT"]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.data_delay)
        if "DATA" in self.replies:
            return self.replies["DATA"]
        self.received.append(Received(bytes(envelope.original_content), list(envelope.rcpt_tos)))
        return "250 OK"


@contextmanager
def serving(inbox: Inbox) -> Iterator[Inbox]:
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@contextmanager
def mail_services(settings: Settings) -> Iterator[Services]:
    """What a worker hands the handler, on the test's own (migrated) database."""
    migrating = make_engine(settings.database, query_timeout=0)  # as start-up migration: DDL is not bounded
    try:
        migrate.upgrade(migrating)
    finally:
        migrating.dispose()
    engine: Engine = make_engine(settings.database)
    try:
        yield Services(settings=settings, engine=engine, mailer=make_mailer(settings.email), crm=None)
    finally:
        engine.dispose()


def welcome(services: Services, envelope: Envelope) -> dict[str, Any]:
    return send_welcome(Context(envelope, services), envelope.payload)


def welcome_envelope(email_address: str = "ada@example.com", name: str = "Ada", **fields: Any) -> Envelope:
    return Envelope(kind="task", type="email.welcome", payload={"email": email_address, "name": name}, **fields)
