"""Reads that ride with their transaction's BEGIN. psycopg sends BEGIN as a round trip of its own before a
transaction's first statement; in its pipeline mode BEGIN and the statements that follow go out together
and their answers come back together. Statements in one pipeline still run one after another, each with
its own snapshot, so a read queued after a locking statement sees what the lock waited for. Elsewhere
(SQLite, or a transaction already under way) the statements run one by one as usual."""

from collections.abc import Sequence
from typing import Any

from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, Executable

_COMPILED: dict[tuple[Executable, str], str] = {}  # (statement, dialect) -> its SQL; module-level statements


def fetch_all(connection: Connection, statements: Sequence[tuple[Executable, dict[str, Any]]]) -> list[list[Any]]:
    """Each statement's rows, in order: in one round trip with the BEGIN when the transaction has sent
    nothing yet on PostgreSQL."""
    driver = connection.connection.driver_connection if connection.dialect.name == "postgresql" else None
    if driver is None or driver.info.transaction_status != TransactionStatus.IDLE:
        return [list(connection.execute(statement, params)) for statement, params in statements]
    cursors = []
    with driver.pipeline():
        for statement, params in statements:
            cursor = driver.cursor()
            cursor.execute(_sql(connection, statement), params)
            cursors.append(cursor)
    return [cursor.fetchall() for cursor in cursors]


def _sql(connection: Connection, statement: Executable) -> str:
    key = (statement, connection.dialect.name)
    if (sql := _COMPILED.get(key)) is None:
        sql = _COMPILED[key] = str(statement.compile(dialect=connection.dialect))  # type: ignore[attr-defined]
    return sql
