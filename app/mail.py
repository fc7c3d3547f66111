"""Outgoing mail: SMTP for servers, .eml files under var/mail/ for the embedded default."""

import contextlib
import os
import smtplib
import socket
import ssl
import tempfile
import threading
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Protocol

from app.config import EmailSettings


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class MailRefused(Exception):
    """The server refused this message for good (a 5xx reply to it): sending it again cannot help."""


def send_budget(settings: EmailSettings) -> timedelta:
    """The longest one SMTP conversation may take, connecting included: whoever claims a mail holds it longer."""
    return 2 * settings.smtp_timeout


class SmtpMailer:
    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self._settings
        timeout = s.smtp_timeout.total_seconds()
        client: smtplib.SMTP
        if s.smtp_security == "tls":
            client = smtplib.SMTP_SSL(timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(timeout=timeout)
        # TLS checks the certificate against it; connecting in the constructor would set it, but unwatched
        client._host = s.smtp_host  # type: ignore[attr-defined]
        with _Deadline(client, send_budget(s)):
            try:
                client.connect(s.smtp_host, s.smtp_port)
                if s.smtp_security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    client.login(s.smtp_username, s.smtp_password.get_secret_value())
                _send(client, message)
            except BaseException:
                client.close()
                raise
        # Accepted: what QUIT answers, if anything, changes nothing
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()


def _send(client: smtplib.SMTP, message: EmailMessage) -> None:
    """A 5xx refusal of this message is permanent. A refused session (HELO, STARTTLS, AUTH) is not: that is
    the configuration's doing, which a later attempt may find fixed."""
    try:
        client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        if all(code >= 500 for code, _ in exc.recipients.values()):
            raise MailRefused(f"recipient refused: {_replies(exc.recipients)}") from exc
        raise
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        if exc.smtp_code >= 500:
            raise MailRefused(f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        raise
    except smtplib.SMTPNotSupportedError as exc:  # an address that needs SMTPUTF8, which the server lacks
        raise MailRefused(str(exc)) from exc


def _replies(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{address}: {code} {_text(reply)}" for address, (code, reply) in recipients.items())


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


class _Deadline:
    """Cuts the connection once the conversation outlasts its budget: smtplib's timeout bounds each read, so a
    server that trickles could otherwise hold a send (and the claim on its mail) for ever."""

    def __init__(self, client: smtplib.SMTP, budget: timedelta) -> None:
        self._client, self._budget = client, budget
        self._over = threading.Event()
        self._expired = False
        self._watch = threading.Thread(target=self._run, name="smtp-deadline", daemon=True)

    def _run(self) -> None:
        if self._over.wait(self._budget.total_seconds()):
            return
        self._expired = True
        while not self._over.wait(0.05):  # a socket still connecting appears only once connect() returns
            sock = self._client.sock
            if sock is not None:
                with contextlib.suppress(OSError):  # closed meanwhile
                    sock.shutdown(socket.SHUT_RDWR)  # a blocked read returns at once; TLS shares the descriptor
                return

    def __enter__(self) -> None:
        self._watch.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._over.set()
        if error is not None and self._expired and not isinstance(error, MailRefused):
            raise TimeoutError(f"the SMTP conversation took longer than {self._budget.total_seconds():g} s") from error


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
