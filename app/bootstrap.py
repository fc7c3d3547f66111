"""The composition root: entry points call :func:`build` once with their settings."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from app.auth.passwords import Passwords
from app.config import Settings, redact_url
from app.db import migrate
from app.db.engine import make_engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: Engine
    passwords: Passwords

    @property
    def new_session(self) -> Callable[[], Session]:
        return lambda: Session(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings, *, migrate_database: bool | None = None) -> Container:
    """Wire the application; migrate the database first when settings (or the caller) ask for it."""
    engine = make_engine(settings.database)
    if settings.database.auto_migrate if migrate_database is None else migrate_database:
        log.info("applying database migrations to %s", redact_url(settings.database.url))
        migrate.upgrade(engine)
    return Container(settings=settings, engine=engine, passwords=Passwords(settings.auth))
