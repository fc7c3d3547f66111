"""Migrations build exactly the schema the models describe, and can be reverted and replayed."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

from app.config import Settings
from app.db import migrate
from app.db.engine import make_engine


def _migrating_engine(settings: Settings) -> Engine:
    # As `flowplane db upgrade` and start-up migration do: DDL and reflection are not bounded by the
    # 1.5 s answer timeout, which a loaded CI machine's catalogue scan can exceed.
    return make_engine(settings.database, query_timeout=0)


def test_upgrade_matches_the_models_and_downgrade_reverts(settings: Settings) -> None:
    engine = _migrating_engine(settings)
    try:
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        assert differences == []

        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert {"users", "sessions"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_twice_changes_nothing(settings: Settings) -> None:
    engine = _migrating_engine(settings)
    try:
        migrate.upgrade(engine)
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
