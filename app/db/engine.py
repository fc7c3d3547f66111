from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from app.config import DatabaseSettings


def make_engine(settings: DatabaseSettings, **overrides: Any) -> Engine:
    """Build the engine for ``settings.url``; SQL parameters are never logged, even with ``echo``."""
    url = make_url(settings.url)
    options: dict[str, Any] = {"echo": settings.echo, "hide_parameters": True, "future": True}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        options.update(pool_size=settings.pool_size, max_overflow=settings.pool_size, pool_pre_ping=True)
    options.update(overrides)
    engine = create_engine(url, **options)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    return engine


def _tune_sqlite(connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
