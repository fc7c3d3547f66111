"""Telling the database's absence from a statement's failure: the first is retried later, never
counted against a task or an event (it is no fault of theirs), and answered 503 to a client."""

import sqlite3
from collections.abc import Iterator

import psycopg
from sqlalchemy import exc

from app.availability import Unavailable

_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "unable to open database file",
                     "disk i/o error")
# SQLSTATEs that say the server is gone or cannot take the session now: connection exceptions (class 08), the
# server shutting down or starting (57P01-57P03), too many connections. A statement's own failure — a timeout, a
# deadlock, a lock not available, a limit exceeded — is not among them: it counts against its task or event.
_OUTAGE_CODES = ("57P01", "57P02", "57P03", "53300")


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says the database could not be reached or did not answer."""
    for cause in causes(error):
        if isinstance(cause, Unavailable) and cause.service == "database":
            return True
        if isinstance(cause, exc.TimeoutError | exc.DisconnectionError):  # no pooled connection came free
            return True
        if isinstance(cause, exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, psycopg.OperationalError) and _server_gone(cause):
            return True
        if isinstance(cause, sqlite3.OperationalError) and str(cause).lower().startswith(_SQLITE_TRANSIENT):
            return True
    return False


def outage(error: BaseException, retry_after: float = 2.0) -> Unavailable | None:
    """The outage ``error`` reports — a server skipped while it recovers, or a database that could not be
    reached — or None when it reports something else."""
    for cause in causes(error):
        if isinstance(cause, Unavailable):
            return cause
    return Unavailable("database", retry_after) if unreachable(error) else None


def _server_gone(error: psycopg.OperationalError) -> bool:
    state = error.sqlstate
    if state is None:  # raised by the client: refused, reset, closed, no answer in time
        return True
    return state.startswith("08") or state in _OUTAGE_CODES


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, what it wraps, and what it was raised from or while handling (unless raised ``from None``)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, exc.DBAPIError) and isinstance(current.orig, BaseException):
            yield current.orig
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
