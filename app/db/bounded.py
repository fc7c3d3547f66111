"""PostgreSQL connections that never wait longer than a timeout for the server's answer.

libpq bounds only the connect. A server that stops answering on an open connection (a partition, a
blackhole: the socket stays open and silent) would hold a request, a worker or a consumer forever;
TCP keepalives do not help while a proxy or load balancer in between keeps acknowledging. Every
round trip of psycopg 3 goes through ``Connection.wait``; here it carries a deadline, and a
connection that missed one is closed (its protocol state is unknown), so the pool discards it."""

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors

_WaitTimeout: type[Exception] = errors._WaitTimeout  # raised by wait(timeout=…) since psycopg 3.2


class AnswerTimeout(psycopg.OperationalError):
    """PostgreSQL did not answer within the timeout; the connection is closed."""


class BoundedConnection(psycopg.Connection[Any]):
    answer_timeout: float = 0.0  # seconds; 0 waits as long as it takes
    on_timeout: Callable[[], None] = staticmethod(lambda: None)

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is None and self.answer_timeout > 0:
            timeout = self.answer_timeout
        try:
            return super().wait(gen, interval=interval, timeout=timeout)
        except _WaitTimeout:
            self.pgconn.finish()
            self.on_timeout()
            raise AnswerTimeout(f"PostgreSQL did not answer within {timeout:.1f} s; connection closed") from None
