"""Statements that share a round trip. psycopg sends BEGIN as a round trip of its own before a transaction's
first statement, and each statement after it as one more; in its pipeline mode statements go out together
and their answers come back together. Statements in one pipeline still run one after another, each with its
own snapshot, so a read queued after a locking statement sees what the lock waited for. Elsewhere (SQLite)
the statements run one by one as usual.

Statements sent this way skip SQLAlchemy's execution layer, not its types: each is compiled once and its
parameters go through the bind processors of their columns' types."""

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg.pq import ExecStatus, TransactionStatus
from sqlalchemy import Connection, Executable

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]]  # one row, or several (executemany)
_COMPILED: dict[tuple[Executable, str], Any] = {}  # (statement, dialect) -> compiled; module-level statements


def fetch_all(connection: Connection, statements: Sequence[tuple[Executable, dict[str, Any]]]) -> list[list[Any]]:
    """Each statement's rows, in order: in one round trip with the BEGIN when the transaction has sent
    nothing yet on PostgreSQL."""
    driver = _driver(connection)
    if driver is None or driver.info.transaction_status != TransactionStatus.IDLE:
        return [list(connection.execute(statement, params)) for statement, params in statements]
    return _pipelined(connection, driver, statements)


def execute_all(connection: Connection, statements: Sequence[tuple[Executable, Params]]) -> list[list[Any]]:
    """Run ``statements`` in order, in one round trip on PostgreSQL wherever the transaction stands; each one's
    rows (none for an executemany)."""
    driver = _driver(connection)
    if driver is None:
        results: list[list[Any]] = []
        for statement, params in statements:
            result = connection.execute(statement, params if isinstance(params, Mapping) else list(params))
            results.append(list(result) if result.returns_rows else [])
        return results
    return _pipelined(connection, driver, statements)


def _driver(connection: Connection) -> Any:
    return connection.connection.driver_connection if connection.dialect.name == "postgresql" else None


def _pipelined(connection: Connection, driver: Any, statements: Sequence[tuple[Executable, Params]]) -> list[list[Any]]:
    cursors = []
    with driver.pipeline():
        for statement, params in statements:
            compiled = _compiled(connection, statement)
            cursor = driver.cursor()
            if isinstance(params, Mapping):
                cursor.execute(compiled.string, _bound(compiled, params))
            else:
                cursor.executemany(compiled.string, [_bound(compiled, row) for row in params])
            cursors.append(cursor)
    return [cursor.fetchall() if _has_rows(cursor) else [] for cursor in cursors]


def _has_rows(cursor: Any) -> bool:
    """Whether the statement returned rows (its result's status; ``description`` would build its columns first)."""
    result = cursor.pgresult
    return result is not None and result.status == ExecStatus.TUPLES_OK


def _compiled(connection: Connection, statement: Executable) -> Any:
    key = (statement, connection.dialect.name)
    if (compiled := _COMPILED.get(key)) is None:
        compiled = _COMPILED[key] = statement.compile(dialect=connection.dialect)  # type: ignore[attr-defined]
    return compiled


def _bound(compiled: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    processors = compiled._bind_processors
    return {name: processors[name](value) if name in processors and value is not None else value
            for name, value in params.items()}
