import time
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from app.availability import Availability
from app.config import DatabaseSettings
from app.db.bounded import BoundedConnection
from app.files import private_file

_AVAILABILITY: "WeakKeyDictionary[Engine, Availability]" = WeakKeyDictionary()


def make_engine(settings: DatabaseSettings, *, query_timeout: float | None = None, **overrides: Any) -> Engine:
    """Build the engine for ``settings.url``; SQL parameters are never logged, even with ``echo``.

    On PostgreSQL every wait is bounded: the connect (``connect_timeout``), a free pooled connection
    (``pool_timeout``) and each answer (``query_timeout``, or the one given); after a timeout or a refused
    connection the engine fails at once for ``backoff`` (:class:`~app.availability.Unavailable`)."""
    url = make_url(settings.url)
    options: dict[str, Any] = {"echo": settings.echo, "hide_parameters": True, "future": True}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            private_file(Path(url.database))
        options["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        # Keepalives let the kernel notice a connection a NAT or balancer dropped while it sat idle in the pool
        options.update(pool_size=settings.pool_size, max_overflow=settings.pool_size,
                       pool_timeout=settings.pool_timeout.total_seconds(),
                       connect_args={"connect_timeout": max(2, round(settings.connect_timeout.total_seconds())),
                                     "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                                     "keepalives_count": 3})
    options.update(overrides)
    engine = create_engine(url, **options)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    availability = Availability("database", settings.backoff.total_seconds())
    _AVAILABILITY[engine] = availability
    timeout = settings.query_timeout.total_seconds() if query_timeout is None else query_timeout
    if url.get_driver_name() == "psycopg":
        event.listen(engine, "do_connect",
                     lambda _dialect, _record, cargs, cparams: _connect(availability, timeout, cargs, cparams))
    event.listen(engine.pool, "checkin", _note_checkin)
    event.listen(engine.pool, "checkout",
                 lambda connection, record, _proxy: _ping_if_idle(engine, availability, connection, record))
    return engine


def availability_of(engine: Engine) -> Availability | None:
    """Whether ``engine``'s server failed moments ago (None for SQLite, a file rather than a server)."""
    return _AVAILABILITY.get(engine)


def _connect(availability: Availability, timeout: float, cargs: Any, cparams: Any) -> BoundedConnection:
    availability.check()
    try:
        connection = BoundedConnection.connect(*cargs, **cparams)
    except Exception as error:  # refused, timed out, or the server is starting: skip it for the backoff
        availability.failed(type(error).__name__)
        raise
    availability.succeeded()
    if timeout > 0:
        # The server cancels a slow statement a little before the client's deadline: a slow query (a lock wait, a
        # big scan) is then that query's error (QueryCanceled), not taken for the server's absence, and its
        # backend does not run on after the client gave up.
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, false)",
                           (f"{round(1000 * (timeout - min(0.5, timeout / 5)))}ms",))
        connection.commit()
    connection.answer_timeout = timeout
    connection.on_timeout = lambda: availability.failed("no answer")
    return connection


IDLE_BEFORE_PING = 2.0  # seconds
PING_TIMEOUT = 0.5  # seconds a ping of an idle connection may take


def _nothing() -> None:
    pass


def _note_checkin(_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(engine: Engine, availability: Availability, connection: Any, record: Any) -> None:
    """Check a connection that sat idle in the pool before lending it (the server may have restarted or
    dropped it meanwhile); one that was in use a moment ago is lent as it is. ``pool_pre_ping`` would
    cost a round trip on every checkout, which on a busy worker is one per transaction. While the server
    is known to be down, nothing is lent."""
    availability.check()
    returned = record.info.get("checked_in_at")
    if returned is None or time.monotonic() - returned < IDLE_BEFORE_PING:
        return  # new, or busy a moment ago
    # A short deadline, and a silent ping is this connection's failure only (a NAT may have dropped it while
    # idle): the pool connects afresh, and only that connect tells whether the server is gone.
    answer_timeout, on_timeout = getattr(connection, "answer_timeout", 0.0), getattr(connection, "on_timeout", None)
    if on_timeout is not None:
        connection.answer_timeout = min(PING_TIMEOUT, answer_timeout or PING_TIMEOUT)
        connection.on_timeout = _nothing
    try:
        alive = engine.dialect.do_ping(connection)  # in autocommit: the connection is lent outside a transaction
    except Exception as error:
        raise exc.DisconnectionError(str(error)) from error
    finally:
        if on_timeout is not None:
            connection.answer_timeout, connection.on_timeout = answer_timeout, on_timeout
    if not alive:  # the pool discards it and connects again
        raise exc.DisconnectionError("the connection did not answer a ping")


def _tune_sqlite(connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
