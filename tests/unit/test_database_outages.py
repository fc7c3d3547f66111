"""Which database errors are an outage (wait, uncounted) and which are a statement's own failure (counted)."""

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import exc

from app.availability import Unavailable
from app.db.bounded import AnswerTimeout
from app.db.errors import unreachable
from app.plane.tasks.registry import PermanentError


def _wrapped(error: Exception) -> exc.OperationalError:
    return exc.OperationalError("SELECT 1", {}, error)


@pytest.mark.parametrize("code", ["08000", "08001", "08003", "08006", "57P01", "57P02", "57P03", "53300"])
def test_a_server_gone_or_refusing_sessions_is_an_outage(code: str) -> None:
    assert unreachable(_wrapped(psycopg.errors.lookup(code)("gone")))


@pytest.mark.parametrize("code", ["57014", "40P01", "40001", "55P03", "54000", "22003", "23505", "42P01"])
def test_a_statements_own_failure_is_not(code: str) -> None:
    assert not unreachable(_wrapped(psycopg.errors.lookup(code)("the statement's fault")))


def test_client_side_failures_and_skips_are_outages() -> None:
    assert unreachable(_wrapped(psycopg.OperationalError("connection refused")))
    assert unreachable(_wrapped(AnswerTimeout("no answer within 1.5 s")))
    assert unreachable(Unavailable("database", 2.0))
    assert unreachable(exc.TimeoutError("QueuePool limit reached"))
    assert not unreachable(Unavailable("redis", 2.0))


def test_an_error_raised_from_none_is_judged_alone() -> None:
    def handler() -> None:
        try:
            raise _wrapped(psycopg.OperationalError("connection refused"))
        except exc.OperationalError:
            raise PermanentError("the payload is bad") from None

    with pytest.raises(PermanentError) as raised:
        handler()
    assert not unreachable(raised.value)


@given(st.sampled_from(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")), st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                                                           min_size=3, max_size=3))
def test_only_connection_exceptions_and_shutdowns_are_outages(first: str, rest: str) -> None:
    code = f"0{first}{rest}" if first != "8" else f"08{rest}"
    cls = psycopg.errors.lookup(code) if code in psycopg.errors._sqlcodes else None  # type: ignore[attr-defined]
    if cls is None or not issubclass(cls, psycopg.OperationalError):
        return
    assert unreachable(_wrapped(cls("x"))) == code.startswith("08")
