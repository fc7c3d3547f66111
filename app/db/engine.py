import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from app.config import DatabaseSettings
from app.files import private_file


def make_engine(settings: DatabaseSettings, **overrides: Any) -> Engine:
    """Build the engine for ``settings.url``; SQL parameters are never logged, even with ``echo``."""
    url = make_url(settings.url)
    options: dict[str, Any] = {"echo": settings.echo, "hide_parameters": True, "future": True}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            private_file(Path(url.database))
        options["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        options.update(pool_size=settings.pool_size, max_overflow=settings.pool_size)
    options.update(overrides)
    engine = create_engine(url, **options)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    else:
        event.listen(engine.pool, "checkin", _note_checkin)
        event.listen(engine.pool, "checkout",
                     lambda connection, record, _proxy: _ping_if_idle(engine, connection, record))
    return engine


IDLE_BEFORE_PING = 2.0  # seconds


def _note_checkin(_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(engine: Engine, connection: Any, record: Any) -> None:
    """Check a connection that sat idle in the pool before lending it (the server may have restarted or
    dropped it meanwhile); one that was in use a moment ago is lent as it is. ``pool_pre_ping`` would
    cost a round trip on every checkout, which on a busy worker is one per transaction."""
    returned = record.info.get("checked_in_at")
    if returned is None or time.monotonic() - returned < IDLE_BEFORE_PING:
        return  # new, or busy a moment ago
    try:
        alive = engine.dialect.do_ping(connection)  # in autocommit: the connection is lent outside a transaction
    except Exception as error:
        raise exc.DisconnectionError(str(error)) from error
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
