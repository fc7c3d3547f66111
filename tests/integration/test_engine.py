"""Pooled PostgreSQL connections: one idle for a while is checked before it is lent, and lent clean."""

import psycopg
import pytest
from sqlalchemy import text

from app.config import DatabaseSettings
from app.db import engine as engine_module
from app.db.engine import make_engine
from tests.servers import POSTGRES_URL, require


@pytest.fixture
def idle_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "IDLE_BEFORE_PING", 0.0)  # every checkout counts as after a long idle


def test_a_connection_the_server_dropped_is_replaced_and_lent_outside_a_transaction(idle_at_once: None) -> None:
    require("postgresql")
    engine = make_engine(DatabaseSettings(url=POSTGRES_URL))
    try:
        with engine.connect() as connection:
            dropped = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (dropped,))
        with engine.connect() as connection:  # the ping finds it dead: the pool connects again
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != dropped
        with engine.connect() as connection:  # pinged and alive: no transaction left open by the ping
            assert connection.connection.dbapi_connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")  # what /metrics does
            assert autocommit.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
