"""One copy of a mail task sends the mail; any other copy waits for it, or takes over a claim whose holder died.

A claim is the ``sent_emails`` row, inserted before the mail goes out in a short transaction of its own: no
transaction stays open across SMTP (SQLite has one writer). It names its holder (a random token) and lapses
at ``claimed_until``, which the holder's send cannot outlast (see ``app.mail.send_budget``); ``sent_at`` set
means the mail went out."""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db.errors import unreachable
from app.db.models import SentEmail

log = logging.getLogger(__name__)
_table = SentEmail.__table__  # type: ignore[attr-defined]
_FIRST_PAUSE, _LONGEST_PAUSE = 0.05, 0.5  # seconds between looks at another copy's claim


class ClaimBusy(Exception):
    """Another copy still held the claim after the wait: retry later."""


@dataclass(frozen=True)
class AlreadySent:
    message_id: str


@dataclass(frozen=True)
class Claim:
    engine: Engine
    key: str
    token: str

    def mark_sent(self, patience: timedelta = timedelta(0)) -> None:
        """Record the mail as sent, if this copy still holds the claim. The mail is out: a database that does
        not answer now is asked again for up to ``patience`` (the rest of the claim's lease), since a retry of
        the task after that would send the mail a second time (with the same Message-ID)."""
        deadline, pause = time.monotonic() + patience.total_seconds(), _FIRST_PAUSE
        while True:
            try:
                with self.engine.begin() as connection:
                    marked = connection.execute(update(_table).where(*self._held())
                                                .values(sent_at=datetime.now(UTC)))
                break
            except Exception as exc:
                if not unreachable(exc) or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(2 * pause, _LONGEST_PAUSE * 4)
        if marked.rowcount != 1:  # the lease lapsed mid-send after all: the taker sends the same Message-ID
            log.warning("the claim on mail %s was taken over while this copy sent it", self.key)

    def release(self) -> None:
        """Give the claim back unsent, so a retry need not wait for its lease."""
        with self.engine.begin() as connection:
            connection.execute(delete(_table).where(*self._held()))

    def _held(self) -> tuple[ColumnElement[bool], ...]:
        return (_table.c.idempotency_key == self.key, _table.c.claim_token == self.token,
                _table.c.sent_at.is_(None))


def take(engine: Engine, key: str, *, message_id: str, recipient: str, lease: timedelta,
         wait: timedelta) -> Claim | AlreadySent:
    """Claim ``key``'s mail, or learn that it went out; waits up to ``wait`` while another copy holds it."""
    deadline = time.monotonic() + wait.total_seconds()
    pause = _FIRST_PAUSE
    while True:
        token = uuid.uuid4().hex
        with engine.begin() as connection:
            outcome = _try(connection, key, token, message_id=message_id, recipient=recipient, lease=lease)
        if isinstance(outcome, AlreadySent):
            return outcome
        if outcome:
            return Claim(engine, key, token)
        left = deadline - time.monotonic()
        if left <= 0:
            raise ClaimBusy(f"another copy of this task still holds the claim on mail {key}")
        time.sleep(min(pause, left))
        pause = min(2 * pause, _LONGEST_PAUSE)


def _try(connection: Connection, key: str, token: str, *, message_id: str, recipient: str,
         lease: timedelta) -> bool | AlreadySent:
    """Whether this copy now holds the claim (False: another copy does), or the mail that went out."""
    now = datetime.now(UTC)
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    row = {"message_id": message_id, "recipient": recipient, "claim_token": token, "claimed_until": now + lease}
    claimed = connection.execute(insert(_table).values(idempotency_key=key, sent_at=None, **row)
                                 .on_conflict_do_nothing(index_elements=["idempotency_key"])
                                 .returning(_table.c.idempotency_key))  # an INSERT's rowcount is not reliable
    if claimed.first() is not None:
        return True
    # A lapsed claim's holder died (or gave up) before sending: one copy takes it over. Its condition is
    # checked again under the row lock (PostgreSQL) or the write lock (SQLite), so two copies cannot both win.
    taken = connection.execute(update(_table).where(_table.c.idempotency_key == key, _table.c.sent_at.is_(None),
                                                    _table.c.claimed_until < now).values(**row))
    if taken.rowcount == 1:
        return True
    sent = connection.execute(select(_table.c.message_id).where(_table.c.idempotency_key == key,
                                                                _table.c.sent_at.is_not(None))).scalar_one_or_none()
    return AlreadySent(sent) if sent is not None else False
