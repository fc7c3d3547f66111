"""Outgoing mail: SMTP for servers, .eml files under var/mail/ for the embedded default."""

import os
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from app.config import EmailSettings


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self._settings
        timeout = s.smtp_timeout.total_seconds()
        client: smtplib.SMTP
        if s.smtp_security == "tls":
            client = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
        with client:
            if s.smtp_security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password.get_secret_value())
            client.send_message(message)


class FileMailer:
    """Writes each message to ``<dir>/<message-id>.eml``, atomically, so a newcomer can read it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(message["Message-ID"]).strip("<>"))
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as sink:
            sink.write(message.as_bytes())
        os.replace(temporary, self.directory / f"{name}.eml")


def make_mailer(settings: EmailSettings) -> Mailer:
    return SmtpMailer(settings) if settings.backend == "smtp" else FileMailer(Path(settings.mail_dir))
